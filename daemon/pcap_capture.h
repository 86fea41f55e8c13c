/* pcap_capture.h - libpcap in front of the pcap observer: capture files
 * (pcap and pcapng, for notmodctl pcap-report) and live interfaces with a
 * BPF filter compiled by libpcap (notmodd --pcap). Both hand the frames to
 * the same nm_pcap_obs_packet. */
#ifndef NM_PCAP_CAPTURE_H
#define NM_PCAP_CAPTURE_H

#include <pcap/pcap.h>
#include <stddef.h>

#include "pcap_observer.h"

/* Reads the capture file at path into o, then ends its open flows. Returns
 * 0, or -1 with a one-line reason in err (the figures up to the failure
 * stay in o, open flows ended too). */
int nm_pcap_read_file(nm_pcap_obs_t *o, const char *path, char *err,
                      size_t cap);

/* Opens iface for live capture in immediate, non-blocking mode with the
 * BPF filter (NULL or "": everything). NULL with the reason in err. */
pcap_t *nm_pcap_open_live(const char *iface, const char *filter, char *err,
                          size_t cap);

/* Hands every frame waiting on a live handle to o. Returns the number of
 * frames, or -1 with the reason in err. */
int nm_pcap_dispatch(pcap_t *p, nm_pcap_obs_t *o, char *err, size_t cap);

#endif
