/*
 * echo-server: serve /echo/1.0.0 (and ping, identify) until SIGINT/SIGTERM.
 *
 *   ./echo-server [LISTEN_MULTIADDR] [SECONDS]
 *
 * Prints the addresses to dial, then one line per connection opened or
 * closed. Each echo stream is driven by callbacks: bytes read are written
 * back; at the end of the stream the write side is closed and the stream
 * freed. SECONDS > 0 stops the server after that long.
 */
#define _POSIX_C_SOURCE 200809L
#include "lp2p.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

/* Runs on an engine thread: write back what arrived (the bytes are copied). */
static void echo_data(void *userdata, const uint8_t *data, size_t len) {
  lp2p_stream *stream = userdata;
  if (lp2p_stream_write(stream, data, len, NULL, NULL) != LP2P_STATUS_OK) lp2p_stream_reset(stream);
}

/* The remote closed its side (or the stream failed): close ours and free.
   Freeing inside the stream's own callback is allowed; after close_write the
   queued bytes and the close still go out. */
static void echo_end(void *userdata, lp2p_status status) {
  lp2p_stream *stream = userdata;
  if (status == LP2P_STATUS_OK) lp2p_stream_close_write(stream, NULL, NULL);
  lp2p_stream_free(stream);
}

/* A new inbound /echo/1.0.0 stream: we own it from here. */
static void echo_handler(void *userdata, lp2p_stream *stream) {
  (void)userdata;
  if (lp2p_stream_start_reading(stream, echo_data, echo_end, stream, NULL) != LP2P_STATUS_OK)
    lp2p_stream_free(stream);
}

static void on_event(void *userdata, const lp2p_event *event) {
  (void)userdata;
  switch (event->kind) {
    case LP2P_EVENT_KIND_CONNECTION_ESTABLISHED:
      printf("connected: %s (%s)\n", event->peer_id, event->address);
      break;
    case LP2P_EVENT_KIND_CONNECTION_CLOSED:
      printf("disconnected: %s\n", event->peer_id);
      break;
    default:
      break;
  }
  fflush(stdout);
}

static int fail(const char *what, lp2p_status status) {
  char msg[512];
  lp2p_last_error_message(msg, sizeof msg, NULL);
  fprintf(stderr, "echo-server: %s: %s (%s)\n", what, msg, lp2p_status_name((int)status));
  return 1;
}

int main(int argc, char **argv) {
  const char *listen = argc > 1 ? argv[1] : "/ip4/127.0.0.1/tcp/0";
  int seconds = argc > 2 ? atoi(argv[2]) : 0;

  lp2p_config *config = NULL;
  lp2p_node *node = NULL;
  lp2p_status st = lp2p_config_new(&config);
  if (st != LP2P_STATUS_OK) return fail("config", st);
  st = lp2p_config_add_listen_addr(config, listen);
  if (st == LP2P_STATUS_OK) st = lp2p_config_set_agent_version(config, "lp2p-echo-server/0.1");
  if (st == LP2P_STATUS_OK) st = lp2p_node_start(config, &node);
  lp2p_config_free(config);
  if (st != LP2P_STATUS_OK) return fail("start", st);

  st = lp2p_node_set_stream_handler(node, "/echo/1.0.0", echo_handler, NULL, NULL);
  if (st == LP2P_STATUS_OK) st = lp2p_node_set_event_callback(node, on_event, NULL, NULL);
  if (st != LP2P_STATUS_OK) {
    lp2p_node_free(node);
    return fail("setup", st);
  }

  lp2p_string_list *addrs = NULL;
  if (lp2p_node_listen_addrs(node, &addrs) == LP2P_STATUS_OK) {
    for (size_t i = 0; i < lp2p_string_list_len(addrs); i++) printf("listening on %s\n", lp2p_string_list_get(addrs, i));
    lp2p_string_list_free(addrs);
  }
  fflush(stdout);

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  struct timespec tick = {0, 100 * 1000 * 1000};
  for (long waited_ms = 0; !stop && (seconds <= 0 || waited_ms < seconds * 1000L); waited_ms += 100) nanosleep(&tick, NULL);

  lp2p_node_free(node); /* no callback runs after this returns */
  printf("stopped\n");
  return 0;
}
