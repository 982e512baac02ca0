/* vendors.c: the table of manufacturers (see vendors.h). */
#include "vendors.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define L(...) (const char *const[]) { __VA_ARGS__, NULL }
#define NONE (const char *const[]) { NULL }

static const struct vendor vendors[] = {
        { "Texas Instruments", L("Texas Instruments", "Burr-Brown", "National Semiconductor"), L("TI"), L("ti.com") },
        { "Analog Devices", L("Analog Devices", "Linear Technology", "Hittite"), L("ADI"), L("analog.com", "linear.com") },
        { "Maxim Integrated", L("Maxim Integrated", "Maxim", "Dallas Semiconductor"), NONE,
          L("maximintegrated.com", "maxim-ic.com") },
        { "STMicroelectronics", L("STMicroelectronics", "ST Microelectronics"), L("ST"), L("st.com") },
        { "Microchip Technology", L("Microchip Technology", "Microchip", "Atmel", "Microsemi", "SMSC"), NONE,
          L("microchip.com", "atmel.com", "microsemi.com") },
        { "NXP Semiconductors", L("NXP Semiconductors", "NXP", "Freescale", "Philips Semiconductors"), NONE,
          L("nxp.com", "freescale.com") },
        { "Bosch Sensortec", L("Bosch Sensortec", "Bosch"), NONE, L("bosch-sensortec.com") },
        { "Espressif Systems", L("Espressif Systems", "Espressif"), NONE, L("espressif.com") },
        { "Nordic Semiconductor", L("Nordic Semiconductor"), NONE, L("nordicsemi.com", "nordicsemi.no") },
        { "Semtech", L("Semtech"), NONE, L("semtech.com") },
        { "Vishay Intertechnology", L("Vishay Intertechnology", "Vishay Semiconductors", "Vishay"), NONE, L("vishay.com") },
        { "TDK InvenSense", L("TDK InvenSense", "InvenSense"), NONE, L("invensense.com", "invensense.tdk.com") },
        { "Diodes Incorporated", L("Diodes Incorporated", "Diodes Inc"), NONE, L("diodes.com") },
        { "Lite-On Technology", L("Lite-On Technology", "LITE-ON", "Liteon"), NONE, L("liteon.com", "optoelectronics.liteon.com") },
        { "IXYS", L("IXYS Integrated Circuits", "IXYS"), NONE, L("ixys.com", "ixysic.com") },
        { "Knowles", L("Knowles Acoustics", "Knowles"), NONE, L("knowles.com") },
        { "Skyworks Solutions", L("Skyworks Solutions", "Skyworks"), NONE, L("skyworksinc.com") },
        { "WCH", L("Nanjing Qinheng Microelectronics", "Qinheng"), L("WCH"), L("wch.cn", "wch-ic.com") },
        { "Sitronix Technology", L("Sitronix Technology", "Sitronix"), NONE, L("sitronix.com.tw") },
        { "Infineon Technologies", L("Infineon Technologies", "Infineon", "Cypress Semiconductor", "International Rectifier"), NONE,
          L("infineon.com", "cypress.com") },
        { "onsemi", L("ON Semiconductor", "onsemi", "Fairchild Semiconductor"), NONE, L("onsemi.com", "fairchildsemi.com") },
        { "Renesas Electronics", L("Renesas Electronics", "Renesas", "Intersil", "Integrated Device Technology", "Dialog Semiconductor"), NONE,
          L("renesas.com", "intersil.com", "idt.com", "dialog-semiconductor.com") },
        { "Silicon Laboratories", L("Silicon Laboratories", "Silicon Labs"), NONE, L("silabs.com") },
        { "ROHM", L("ROHM Semiconductor", "ROHM"), NONE, L("rohm.com") },
        { "Toshiba Electronic Devices & Storage", L("Toshiba Electronic Devices", "Toshiba"), NONE, L("toshiba.semicon-storage.com", "toshiba.com") },
        { "Murata Manufacturing", L("Murata Manufacturing", "Murata"), NONE, L("murata.com") },
        { "Nexperia", L("Nexperia"), NONE, L("nexperia.com") },
        { "Melexis", L("Melexis"), NONE, L("melexis.com") },
        { "ams OSRAM", L("ams OSRAM", "ams AG", "OSRAM"), NONE, L("ams.com", "ams-osram.com", "osram.com") },
        { "Monolithic Power Systems", L("Monolithic Power Systems"), L("MPS"), L("monolithicpower.com") },
        { "Richtek Technology", L("Richtek Technology", "Richtek"), NONE, L("richtek.com") },
        { "GigaDevice", L("GigaDevice Semiconductor", "GigaDevice"), NONE, L("gigadevice.com") },
        { "Winbond Electronics", L("Winbond Electronics", "Winbond"), NONE, L("winbond.com") },
        { "Macronix International", L("Macronix International", "Macronix"), NONE, L("macronix.com") },
        { "Micron Technology", L("Micron Technology"), NONE, L("micron.com") },
        { "Sensirion", L("Sensirion"), NONE, L("sensirion.com") },
        { "Allegro MicroSystems", L("Allegro MicroSystems"), NONE, L("allegromicro.com") },
        { "Littelfuse", L("Littelfuse"), NONE, L("littelfuse.com") },
        { "Everlight", L("Everlight Electronics", "Everlight"), NONE, L("everlight.com") },
        { "Kingbright", L("Kingbright"), NONE, L("kingbright.com") },
        { "u-blox", L("u-blox"), NONE, L("u-blox.com") },
        { "Quectel Wireless Solutions", L("Quectel Wireless", "Quectel"), NONE, L("quectel.com") },
        { "Unicore Communications", L("Unicore Communications", "Unicore"), NONE, L("unicorecomm.com", "unicore.com") },
        { "Hynetek Semiconductor", L("Hynetek Semiconductor", "Hynetek"), NONE, L("hynetek.com") },
        { "Injoinic", L("Injoinic Technology", "Injoinic"), NONE, L("injoinic.com") },
        { "Senodia Technologies", L("Senodia Technologies", "Senodia"), NONE, L("senodia.com") },
        { "Raspberry Pi", L("Raspberry Pi Ltd", "Raspberry Pi"), NONE, L("raspberrypi.com") },
        { "Wurth Elektronik", L("Würth Elektronik", "Wurth Elektronik"), NONE, L("we-online.com") },
        { "Panasonic", L("Panasonic"), NONE, L("panasonic.com") },
        { "Samsung Electronics", L("Samsung Electronics"), NONE, L("samsung.com") },
        { "Nuvoton Technology", L("Nuvoton Technology", "Nuvoton"), NONE, L("nuvoton.com") },
        { "Holtek Semiconductor", L("Holtek Semiconductor", "Holtek"), NONE, L("holtek.com") },
        { "X-Powers", L("X-Powers", "X-Powers Technology"), NONE, L("x-powers.com") },
        { "Worldsemi", L("Worldsemi", "World Semi"), NONE, L("world-semi.com") },
        { "Nanyang Senba Optical and Electronic", L("Nanyang Senba", "Senba Optical"), NONE, L("nysenba.com") },
        { "Ai-Thinker", L("Ai-Thinker"), NONE, L("ai-thinker.com") },
};

size_t vendors_count(void) {
        return ELEMENTSOF(vendors);
}

const struct vendor *vendor_get(size_t i) {
        return i < ELEMENTSOF(vendors) ? &vendors[i] : NULL;
}

static bool word_char(char c) {
        return isalnum((unsigned char) c) || (unsigned char) c >= 0x80;
}

/* NEEDLE in HAY as a whole word (case-insensitively unless EXACT). */
static bool has_word(const char *hay, const char *needle, bool exact) {
        size_t n = strlen(needle);
        const char *p;

        for (p = hay; *p; p++) {
                if ((exact ? strncmp(p, needle, n) : strncasecmp(p, needle, n)) != 0)
                        continue;
                if ((p == hay || !word_char(p[-1])) && !word_char(p[n]))
                        return true;
        }
        return false;
}

/* DOMAIN in HAY as a host name or the end of one: "ti.com" in "www.ti.com/x",
 * not in "multi.com". */
static bool has_domain(const char *hay, const char *domain) {
        size_t n = strlen(domain);
        const char *p;

        for (p = hay; *p; p++) {
                if (strncasecmp(p, domain, n) != 0)
                        continue;
                if ((p == hay || p[-1] == '.' || p[-1] == '/' || p[-1] == '@' || !word_char(p[-1])) &&
                    !(isalnum((unsigned char) p[n]) || p[n] == '-'))
                        return true;
        }
        return false;
}

/* NEEDLE (lowercase) in LOWER (a lowercased line) where WHOLE allows it. */
static bool find_lower(const char *lower, const char *needle, bool domain) {
        size_t n = strlen(needle);
        const char *p;

        for (p = strstr(lower, needle); p; p = strstr(p + 1, needle)) {
                bool before = p == lower || !word_char(p[-1]) || (domain && (p[-1] == '.' || p[-1] == '/' || p[-1] == '@'));
                bool after = domain ? !(isalnum((unsigned char) p[n]) || p[n] == '-') : !word_char(p[n]);

                if (before && after)
                        return true;
        }
        return false;
}

static void lowercase(const char *s, char *out, size_t size) {
        size_t i;

        for (i = 0; s[i] && i + 1 < size; i++)
                out[i] = (char) tolower((unsigned char) s[i]);
        out[i] = 0;
}

unsigned vendors_match_all(const char *line, int *matches) {
        char lower[1024], needle[128];
        unsigned found = 0;
        size_t i;

        lowercase(line, lower, sizeof(lower));
        for (i = 0; i < ELEMENTSOF(vendors); i++) {
                const struct vendor *v = &vendors[i];
                const char *const *a;
                int m = 0;

                for (a = v->domains; *a && !m; a++)
                        if (find_lower(lower, *a, true))
                                m = 3;
                for (a = v->aliases; *a && !m; a++) {
                        lowercase(*a, needle, sizeof(needle));
                        if (find_lower(lower, needle, false))
                                m = 2;
                }
                for (a = v->short_aliases; *a && !m; a++)
                        if (has_word(line, *a, true))
                                m = 1;
                matches[i] = m;
                found += m > 0;
        }
        return found;
}

int vendor_match(size_t i, const char *line) {
        const struct vendor *v = vendor_get(i);
        const char *const *a;

        if (!v)
                return 0;
        for (a = v->domains; *a; a++)
                if (has_domain(line, *a))
                        return 3;
        for (a = v->aliases; *a; a++)
                if (has_word(line, *a, false))
                        return 2;
        for (a = v->short_aliases; *a; a++)
                if (has_word(line, *a, true))
                        return 1;
        return 0;
}

const char *vendor_normalize(const char *s) {
        size_t i;

        while (isspace((unsigned char) *s))
                s++;
        for (i = 0; i < ELEMENTSOF(vendors); i++) {
                const struct vendor *v = &vendors[i];
                const char *const *a;

                if (strcasecmp(s, v->name) == 0)
                        return v->name;
                for (a = v->aliases; *a; a++)
                        if (strcasecmp(s, *a) == 0)
                                return v->name;
                for (a = v->short_aliases; *a; a++)
                        if (strcmp(s, *a) == 0)
                                return v->name;
        }
        /* A web address, a bare domain, a longer name ("Texas Instruments Incorporated"). */
        for (i = 0; i < ELEMENTSOF(vendors); i++)
                if (vendor_match(i, s) >= 2)
                        return vendors[i].name;
        return NULL;
}
