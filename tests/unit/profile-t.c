/* profile-t.c: processing profiles without a daemon: the default is what a
 * job made before profiles, options are checked by name, page lists and
 * filter conditions read as documented, and the job message round-trips. */
#include <errno.h>
#include <string.h>

#include "profile.h"
#include "tap.h"

int main(void) {
        struct profile p, q;
        const char *why = NULL;

        profile_init_default(&p, NULL);
        ok(p.on[PROFILE_META] && p.on[PROFILE_TEXT] && p.on[PROFILE_OUTLINE] && p.on[PROFILE_THUMBS] &&
           p.on[PROFILE_FACTS] && p.on[PROFILE_TABLES] && !p.on[PROFILE_STEXT] && !p.on[PROFILE_PAGES],
           "default: meta, text, outline, thumbs, facts, tables; no stext, no pages");
        is_str(p.thumb_pages, "1", "default: thumbnail of page 1 (thumb.png)");
        is_int(p.thumb_format, PROFILE_PNG, "default: PNG");

        is_int(profile_set(&p, "stext", "on", &why), 0, "stext: on");
        ok(p.on[PROFILE_STEXT], "... sets it");
        is_int(profile_set(&p, "thumbs.size", "512", &why), 0, "thumbs.size: 512");
        is_int(p.thumb_size, 512, "... sets it");
        is_int(profile_set(&p, "thumbs.size", "5", &why), -EINVAL, "thumbs.size: 5 refused");
        is_str(why, "must be a number of pixels from 16 to 4096", "... with what was expected");
        is_int(profile_set(&p, "pages.dpi", "1201", &why), -EINVAL, "pages.dpi: 1201 refused");
        is_int(profile_set(&p, "pages.format", "gif", &why), -EINVAL, "pages.format: gif refused");
        is_int(profile_set(&p, "thumbs.format", "jpeg", &why), 0, "thumbs.format: jpeg");
        is_int(profile_set(&p, "dpi", "100", &why), -ENOENT, "unknown option: -ENOENT");
        is_int(profile_set(&p, "text", "maybe", &why), -EINVAL, "an output takes on/off only");

        ok(profile_pages_valid("all") && profile_pages_valid("1") && profile_pages_valid("1-3,7,9-"),
           "page lists: all, 1, 1-3,7,9-");
        ok(!profile_pages_valid("") && !profile_pages_valid("0") && !profile_pages_valid("3-1") &&
           !profile_pages_valid("1,,2") && !profile_pages_valid("-2") && !profile_pages_valid("a"),
           "refused: empty, 0, 3-1, 1,,2, -2, a");
        ok(profile_pages_has("1-3,7,9-", 2, 20) && profile_pages_has("1-3,7,9-", 7, 20) &&
           profile_pages_has("1-3,7,9-", 15, 20) && !profile_pages_has("1-3,7,9-", 8, 20),
           "1-3,7,9- holds 2, 7, 15, not 8");
        ok(!profile_pages_has("all", 21, 20) && !profile_pages_has("9-", 0, 20), "never past the document");

        enum profile_when w;
        ok(profile_when_parse("text_layer != full", &w) == 0 && w == PROFILE_WHEN_NOT_FULL, "when: text_layer != full");
        ok(profile_when_parse("text_layer!=full", &w) == 0 && w == PROFILE_WHEN_NOT_FULL, "... spaces do not matter");
        is_int(profile_when_parse("pages > 3", &w), -EINVAL, "an unknown condition is refused");
        ok(profile_when_matches(PROFILE_WHEN_NOT_FULL, "none") && profile_when_matches(PROFILE_WHEN_NOT_FULL, "partial") &&
           !profile_when_matches(PROFILE_WHEN_NOT_FULL, "full"), "!= full: none and partial, not full");
        ok(profile_when_matches(PROFILE_WHEN_NONE, "none") && !profile_when_matches(PROFILE_WHEN_NONE, "partial"),
           "== none: only none");

        json_t *o = profile_outputs_to_json(&p);
        profile_init_default(&q, NULL);
        is_int(profile_outputs_from_json(o, &q, &why), 0, "the job message's outputs read back");
        ok(q.on[PROFILE_STEXT] && q.thumb_size == 512 && q.thumb_format == PROFILE_JPEG, "... the same options");
        json_object_set_new(o, "pages.dpi", json_integer(3));
        is_int(profile_outputs_from_json(o, &q, &why), -EINVAL, "a bad value in a job message is refused");
        json_decref(o);
        profile_done(&q);
        profile_done(&p);
        return done_testing();
}
