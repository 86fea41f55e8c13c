/* nm_pcapgen.c - test helper: writes hand-built captures with libpcap's
 * pcap_dump, so the pcap tests control every segment (order, overlaps,
 * truncation, link type, IP version).
 *   nm_pcapgen OUT.pcap [--link en10mb|sll|sll2|null|raw] [--v6]
 *              [--port N] < SCRIPT
 * SCRIPT: one segment a line, "CONN DIR FLAGS OFFSET HEX [CAPLEN]":
 *   CONN    connection number (client port 40000 + CONN)
 *   DIR     c (client to server) or s (server to client)
 *   FLAGS   any of S A F R P, or "." for none
 *   OFFSET  stream offset of the first payload byte (seq = ISN + 1 + it)
 *   HEX     payload as hex, "-" for none
 *   CAPLEN  optional: record only this many bytes of the frame
 * ISNs are 1000 (client) and 5000 (server); timestamps advance 1 ms. */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_MAX 70000

typedef struct gen {
    int dlt;
    const char *link;
    int is_v6;
    unsigned port;
    pcap_dumper_t *out;
    long long ts_ms;
} gen_t;

static size_t put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
    return 2;
}

static size_t put32(unsigned char *p, unsigned long v)
{
    put16(p, (unsigned)(v >> 16));
    put16(p + 2, (unsigned)(v & 0xffff));
    return 4;
}

/* Writes the link header; returns its length. */
static size_t link_header(const gen_t *g, unsigned char *f)
{
    unsigned type = g->is_v6 ? 0x86dd : 0x0800;
    if (strcmp(g->link, "en10mb") == 0) {
        memset(f, 0, 12);
        f[5] = 1;
        f[11] = 2;
        return 12 + put16(f + 12, type);
    }
    if (strcmp(g->link, "sll") == 0) {
        memset(f, 0, 16);
        put16(f + 2, 772); /* ARPHRD_LOOPBACK */
        return 14 + put16(f + 14, type);
    }
    if (strcmp(g->link, "sll2") == 0) {
        memset(f, 0, 20);
        put16(f, type);
        put32(f + 4, 1); /* ifindex */
        put16(f + 8, 772);
        return 20;
    }
    if (strcmp(g->link, "null") == 0) {
        unsigned af = g->is_v6 ? 10 : 2; /* host byte order, as BSD does */
        memcpy(f, &af, 4);
        return 4;
    }
    return 0; /* raw */
}

static size_t ip_header(const gen_t *g, unsigned char *f, int from_client,
                        size_t tcp_len)
{
    unsigned char a[16] = {0}, b[16] = {0};
    if (g->is_v6) {
        a[15] = 1; /* ::1 and ::2 */
        b[15] = 2;
        f[0] = 0x60;
        memset(f + 1, 0, 3);
        put16(f + 4, (unsigned)tcp_len);
        f[6] = 6;
        f[7] = 64;
        memcpy(f + 8, from_client ? a : b, 16);
        memcpy(f + 24, from_client ? b : a, 16);
        return 40;
    }
    a[0] = b[0] = 127;
    a[3] = 1;
    b[3] = 2;
    memset(f, 0, 20);
    f[0] = 0x45;
    put16(f + 2, (unsigned)(20 + tcp_len));
    f[6] = 0x40; /* DF */
    f[8] = 64;
    f[9] = 6;
    memcpy(f + 12, from_client ? a : b, 4);
    memcpy(f + 16, from_client ? b : a, 4);
    return 20;
}

static unsigned tcp_flags(const char *s)
{
    unsigned v = 0;
    for (; *s; s++)
        v |= *s == 'F'   ? 0x01
             : *s == 'S' ? 0x02
             : *s == 'R' ? 0x04
             : *s == 'P' ? 0x08
             : *s == 'A' ? 0x10
                         : 0;
    return v;
}

static size_t unhex(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = 0;
    if (strcmp(hex, "-") == 0)
        return 0;
    for (; hex[0] && hex[1] && n < cap; hex += 2) {
        unsigned v;
        if (sscanf(hex, "%2x", &v) != 1)
            break;
        out[n++] = (unsigned char)v;
    }
    return n;
}

static int segment(gen_t *g, const char *line)
{
    static char hex[2 * FRAME_MAX];
    static unsigned char f[FRAME_MAX + 128];
    unsigned conn;
    char dir, flags[16];
    unsigned long off;
    long caplen = -1;
    if (sscanf(line, "%u %c %15s %lu %139999s %ld", &conn, &dir, flags, &off,
               hex, &caplen) < 5)
        return -1;
    int from_client = dir == 'c';
    unsigned char payload[FRAME_MAX];
    size_t plen = unhex(hex, payload, sizeof(payload));
    size_t n = link_header(g, f);
    size_t ip_at = n;
    n += g->is_v6 ? 40 : 20;
    unsigned char *t = f + n;
    unsigned cport = 40000 + conn;
    unsigned flag_bits = tcp_flags(flags);
    unsigned long isn = from_client ? 1000 : 5000;
    put16(t, from_client ? cport : g->port);
    put16(t + 2, from_client ? g->port : cport);
    put32(t + 4, (isn + ((flag_bits & 0x02) ? 0 : 1 + off)) & 0xffffffffu);
    put32(t + 8, 0);
    t[12] = 5 << 4;
    t[13] = (unsigned char)flag_bits;
    put16(t + 14, 65535);
    put32(t + 16, 0);
    memcpy(t + 20, payload, plen);
    ip_header(g, f + ip_at, from_client, 20 + plen);
    n += 20 + plen;
    struct pcap_pkthdr h;
    h.ts.tv_sec = (time_t)(g->ts_ms / 1000);
    h.ts.tv_usec = (suseconds_t)(g->ts_ms % 1000 * 1000);
    g->ts_ms++;
    h.len = (bpf_u_int32)n;
    h.caplen =
        (bpf_u_int32)(caplen >= 0 && (size_t)caplen < n ? (size_t)caplen : n);
    pcap_dump((u_char *)g->out, &h, f);
    return 0;
}

static int link_dlt(const char *link)
{
    static const struct {
        const char *name;
        int dlt;
    } links[] = {{"en10mb", DLT_EN10MB},
                 {"sll", DLT_LINUX_SLL},
                 {"sll2", DLT_LINUX_SLL2},
                 {"null", DLT_NULL},
                 {"raw", DLT_RAW}};
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
        if (strcmp(links[i].name, link) == 0)
            return links[i].dlt;
    return -1;
}

int main(int argc, char **argv)
{
    gen_t g = {DLT_EN10MB, "en10mb", 0, 8080, NULL, 1600000000000LL};
    if (argc < 2) {
        fprintf(stderr, "usage: nm_pcapgen OUT.pcap [--link L] [--v6] "
                        "[--port N] < SCRIPT\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--link") == 0 && i + 1 < argc)
            g.link = argv[++i];
        else if (strcmp(argv[i], "--v6") == 0)
            g.is_v6 = 1;
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            g.port = (unsigned)atoi(argv[++i]);
    }
    if ((g.dlt = link_dlt(g.link)) < 0) {
        fprintf(stderr, "nm_pcapgen: unknown link %s\n", g.link);
        return 2;
    }
    pcap_t *p = pcap_open_dead(g.dlt, 262144);
    g.out = p ? pcap_dump_open(p, argv[1]) : NULL;
    if (!g.out) {
        fprintf(stderr, "nm_pcapgen: %s: %s\n", argv[1],
                p ? pcap_geterr(p) : "pcap_open_dead failed");
        return 1;
    }
    static char line[2 * FRAME_MAX + 256];
    int lineno = 0;
    while (fgets(line, sizeof(line), stdin)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (segment(&g, line) < 0) {
            fprintf(stderr, "nm_pcapgen: line %d: bad segment\n", lineno);
            return 2;
        }
    }
    pcap_dump_close(g.out);
    pcap_close(p);
    return 0;
}
