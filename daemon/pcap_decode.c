/* pcap_decode.c - see pcap_decode.h. Hand-written: libpcap hands over
 * frames, not parsed headers, and the few fixed layouts below are all we
 * need. */
#include "pcap_decode.h"

#include <pcap/dlt.h>
#include <string.h>

#define LINKTYPE_RAW 101 /* some files carry the LINKTYPE, not DLT_RAW */
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define IPPROTO_TCP_ 6

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

bool nm_pkt_link_supported(int dlt)
{
    switch (dlt) {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_NULL:
    case DLT_LOOP:
    case DLT_RAW:
    case LINKTYPE_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        return true;
    default:
        return false;
    }
}

/* Ethernet: skips 802.1Q / 802.1ad tags. Returns the header length and
 * the ethertype, or -1 when the capture is too short. */
static long ether_header(const uint8_t *f, size_t caplen, uint16_t *type)
{
    size_t off = 12;
    for (;;) {
        if (caplen < off + 2)
            return -1;
        *type = be16(f + off);
        if (*type != ETHERTYPE_VLAN && *type != ETHERTYPE_QINQ)
            return (long)off + 2;
        off += 4;
    }
}

/* Length of the link header, and the ethertype when the link has one (0
 * for links where the IP version nibble tells). -1: truncated or unknown. */
static long link_header(int dlt, const uint8_t *f, size_t caplen,
                        uint16_t *type)
{
    *type = 0;
    switch (dlt) {
    case DLT_EN10MB:
        return ether_header(f, caplen, type);
    case DLT_LINUX_SLL: /* protocol at 14 of 16 */
        if (caplen < 16)
            return -1;
        *type = be16(f + 14);
        return 16;
    case DLT_LINUX_SLL2: /* protocol at 0 of 20 */
        if (caplen < 20)
            return -1;
        *type = be16(f);
        return 20;
    case DLT_NULL: /* AF_ value in the writer's byte order: use the nibble */
    case DLT_LOOP:
        return caplen < 4 ? -1 : 4;
    default:
        return nm_pkt_link_supported(dlt) ? 0 : -1;
    }
}

static int decode_tcp(const uint8_t *t, size_t caplen, size_t wire_len,
                      nm_pkt_t *out)
{
    if (caplen < 20 || wire_len < 20)
        return NM_E_PARSE;
    size_t hlen = (size_t)(t[12] >> 4) * 4;
    if (hlen < 20 || hlen > wire_len || hlen > caplen)
        return NM_E_PARSE;
    out->sport = be16(t);
    out->dport = be16(t + 2);
    out->seq = be32(t + 4);
    out->tcp_flags = t[13];
    out->payload = t + hlen;
    out->payload_wire_len = wire_len - hlen;
    out->payload_len = (caplen < wire_len ? caplen : wire_len) - hlen;
    return NM_OK;
}

static int decode_ipv4(const uint8_t *ip, size_t caplen, nm_pkt_t *out)
{
    if (caplen < 20)
        return NM_E_PARSE;
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    size_t total = be16(ip + 2);
    if (ihl < 20 || total < ihl || caplen < ihl)
        return NM_E_PARSE;
    /* Fragments: reassembling IP is out of scope; HTTP over TCP on a
     * normal MTU path does not fragment (DF is set). */
    if ((be16(ip + 6) & 0x3fff) != 0 || ip[9] != IPPROTO_TCP_)
        return NM_PKT_SKIP;
    out->family = 4;
    memcpy(out->src, ip + 12, 4);
    memcpy(out->dst, ip + 16, 4);
    return decode_tcp(ip + ihl, caplen - ihl, total - ihl, out);
}

/* Extension headers we step over to find TCP (RFC 8200 §4). */
static bool is_ipv6_ext(uint8_t nh)
{
    return nh == 0 || nh == 43 || nh == 60 || nh == 51;
}

static int decode_ipv6(const uint8_t *ip, size_t caplen, nm_pkt_t *out)
{
    if (caplen < 40)
        return NM_E_PARSE;
    size_t left = be16(ip + 4), off = 40;
    uint8_t nh = ip[6];
    if (left == 0)
        return NM_PKT_SKIP; /* jumbogram */
    while (is_ipv6_ext(nh)) {
        if (caplen < off + 2)
            return NM_E_PARSE;
        size_t len = nh == 51 ? ((size_t)ip[off + 1] + 2) * 4
                              : ((size_t)ip[off + 1] + 1) * 8;
        if (len > left)
            return NM_E_PARSE;
        nh = ip[off];
        off += len;
        left -= len;
    }
    if (nh != IPPROTO_TCP_) /* includes fragment headers (44) */
        return NM_PKT_SKIP;
    if (caplen < off)
        return NM_E_PARSE;
    out->family = 6;
    memcpy(out->src, ip + 8, 16);
    memcpy(out->dst, ip + 24, 16);
    return decode_tcp(ip + off, caplen - off, left, out);
}

int nm_pkt_decode(int dlt, const uint8_t *frame, size_t caplen, nm_pkt_t *out)
{
    memset(out, 0, sizeof(*out));
    uint16_t type;
    long off = link_header(dlt, frame, caplen, &type);
    if (off < 0)
        return NM_E_PARSE;
    const uint8_t *ip = frame + off;
    size_t left = caplen - (size_t)off;
    if (type == 0 && left > 0)
        type = (ip[0] >> 4) == 4   ? ETHERTYPE_IPV4
               : (ip[0] >> 4) == 6 ? ETHERTYPE_IPV6
                                   : 0;
    if (type == ETHERTYPE_IPV4)
        return decode_ipv4(ip, left, out);
    if (type == ETHERTYPE_IPV6)
        return decode_ipv6(ip, left, out);
    return NM_PKT_SKIP;
}
