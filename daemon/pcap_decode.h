/* pcap_decode.h - one captured frame down to its TCP segment: link layer
 * (Ethernet with VLAN tags, Linux cooked SLL and SLL2, BSD loopback, raw
 * IP), IPv4 or IPv6 (extension headers skipped), then TCP. Pure; used by
 * the pcap observer for live and offline captures alike. */
#ifndef NM_PCAP_DECODE_H
#define NM_PCAP_DECODE_H

#include "nm.h"

/* TCP flags (RFC 9293 §3.1). */
#define NM_TCP_FIN 0x01
#define NM_TCP_SYN 0x02
#define NM_TCP_RST 0x04
#define NM_TCP_ACK 0x10

/* A decoded TCP segment; payload points into the frame. */
typedef struct nm_pkt {
    uint8_t family; /* 4 or 6 */
    uint8_t tcp_flags;
    uint16_t sport, dport;
    uint8_t src[16], dst[16]; /* IPv4 uses the first 4 bytes */
    uint32_t seq;
    const uint8_t *payload;
    size_t payload_len;      /* payload bytes present in the capture */
    size_t payload_wire_len; /* payload bytes the IP header announces */
} nm_pkt_t;

/* Result of nm_pkt_decode besides NM_OK. */
enum {
    NM_PKT_SKIP =
        1, /* well formed but not for us: not IP, not TCP, a fragment */
};

/* Link types accepted, as pcap_datalink() reports them. */
bool nm_pkt_link_supported(int dlt);

/* Decodes caplen captured bytes of a frame of link type dlt. Returns
 * NM_OK, NM_PKT_SKIP, or NM_E_PARSE for headers that do not fit the
 * capture or contradict themselves. */
int nm_pkt_decode(int dlt, const uint8_t *frame, size_t caplen, nm_pkt_t *out);

#endif
