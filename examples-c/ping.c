/*
 * ping: dial a libp2p peer and ping it.
 *
 *   ./ping /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW... [COUNT]
 *
 * Starts a node that does not listen, connects, prints one round-trip time
 * per ping, and exits 0 when every ping succeeded.
 */
#include "lp2p.h"

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, lp2p_status status) {
  char msg[512];
  lp2p_last_error_message(msg, sizeof msg, NULL);
  fprintf(stderr, "ping: %s: %s (%s)\n", what, msg, lp2p_status_name((int)status));
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s MULTIADDR [COUNT]\n", argv[0]);
    return 1;
  }
  int count = argc == 3 ? atoi(argv[2]) : 3;
  if (count < 1) count = 1;

  lp2p_config *config = NULL;
  lp2p_node *node = NULL;
  lp2p_status st = lp2p_config_new(&config);
  if (st != LP2P_STATUS_OK) return fail("config", st);
  st = lp2p_node_start(config, &node);
  lp2p_config_free(config); /* the node keeps its own copy */
  if (st != LP2P_STATUS_OK) return fail("start", st);

  int failures = 0;
  char *peer = NULL;
  st = lp2p_node_dial(node, argv[1], &peer);
  if (st != LP2P_STATUS_OK) {
    failures = fail("dial", st);
  } else {
    printf("connected to %s\n", peer);
    for (int i = 0; i < count; i++) {
      uint64_t rtt_us = 0;
      st = lp2p_node_ping(node, peer, &rtt_us);
      if (st == LP2P_STATUS_OK) {
        printf("ping %d: %.3f ms\n", i + 1, (double)rtt_us / 1000.0);
      } else {
        failures += fail("ping", st);
      }
    }
  }
  lp2p_string_free(peer);
  lp2p_node_free(node);
  return failures == 0 ? 0 : 1;
}
