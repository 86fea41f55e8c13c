/* pcap_capture.c - see pcap_capture.h. */
#include "pcap_capture.h"

#include <stdio.h>

#include "pcap_decode.h"
#include <string.h>

/* Snapshot length for live captures: whole frames, even with GRO/TSO on
 * loopback (up to 64 KiB IP packets plus the link header). */
#define LIVE_SNAPLEN 262144
#define LIVE_BUFFER_BYTES (8 * 1024 * 1024)

struct feed_ctx {
    nm_pcap_obs_t *obs;
    int dlt;
};

static void on_frame(u_char *arg, const struct pcap_pkthdr *h,
                     const u_char *bytes)
{
    const struct feed_ctx *c = (const struct feed_ctx *)arg;
    uint64_t ts_us =
        (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
    nm_pcap_obs_packet(c->obs, c->dlt, ts_us, bytes, h->caplen, h->len);
}

/* Reads frames until the end or an error; 0 or -1 with err filled. */
static int read_all(pcap_t *p, nm_pcap_obs_t *o, char *err, size_t cap)
{
    struct feed_ctx c = {o, pcap_datalink(p)};
    if (!nm_pkt_link_supported(c.dlt)) {
        snprintf(err, cap, "link type %s (%d) is not supported",
                 pcap_datalink_val_to_name(c.dlt)
                     ? pcap_datalink_val_to_name(c.dlt)
                     : "?",
                 c.dlt);
        return -1;
    }
    int rc = pcap_dispatch(p, -1, on_frame, (u_char *)&c);
    if (rc == PCAP_ERROR) {
        snprintf(err, cap, "%s", pcap_geterr(p));
        return -1;
    }
    return 0;
}

int nm_pcap_read_file(nm_pcap_obs_t *o, const char *path, char *err, size_t cap)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_open_offline(path, ebuf);
    if (!p) {
        snprintf(err, cap, "%s", ebuf);
        return -1;
    }
    int rc = read_all(p, o, err, cap);
    pcap_close(p);
    nm_pcap_obs_finish(o);
    return rc;
}

pcap_t *nm_pcap_open_live(const char *iface, const char *filter, char *err,
                          size_t cap)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create(iface, ebuf);
    if (!p) {
        snprintf(err, cap, "%s", ebuf);
        return NULL;
    }
    struct bpf_program prog;
    const char *stage = "activate";
    int rc;
    pcap_set_snaplen(p, LIVE_SNAPLEN);
    pcap_set_immediate_mode(p, 1);
    pcap_set_buffer_size(p, LIVE_BUFFER_BYTES);
    if ((rc = pcap_activate(p)) < 0)
        goto fail;
    stage = "filter";
    if (pcap_compile(p, &prog, filter ? filter : "", 1, PCAP_NETMASK_UNKNOWN) !=
        0)
        goto fail;
    rc = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (rc != 0 || pcap_setnonblock(p, 1, ebuf) != 0)
        goto fail;
    if (!nm_pkt_link_supported(pcap_datalink(p))) {
        snprintf(err, cap, "%s: link type %d is not supported", iface,
                 pcap_datalink(p));
        pcap_close(p);
        return NULL;
    }
    return p;
fail:
    snprintf(err, cap, "%s: %s: %s", iface, stage,
             *pcap_geterr(p) ? pcap_geterr(p) : pcap_statustostr(rc));
    pcap_close(p);
    return NULL;
}

int nm_pcap_dispatch(pcap_t *p, nm_pcap_obs_t *o, char *err, size_t cap)
{
    struct feed_ctx c = {o, pcap_datalink(p)};
    int rc = pcap_dispatch(p, -1, on_frame, (u_char *)&c);
    if (rc == PCAP_ERROR)
        snprintf(err, cap, "%s", pcap_geterr(p));
    return rc < 0 ? -1 : rc;
}
