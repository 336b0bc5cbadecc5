/*
 * echo-client: send a message on an /echo/1.0.0 stream and print the reply.
 *
 *   ./echo-client /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW... [MESSAGE]
 *
 * Exits 0 when the reply equals the message.
 */
#include "lp2p.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char *buf;
  size_t len;
  int ended;
  lp2p_status status;
} reply;

static void on_data(void *userdata, const uint8_t *data, size_t len) {
  reply *r = userdata;
  pthread_mutex_lock(&r->mu);
  char *grown = realloc(r->buf, r->len + len + 1);
  if (grown) {
    memcpy(grown + r->len, data, len);
    r->buf = grown;
    r->len += len;
    r->buf[r->len] = 0;
  }
  pthread_mutex_unlock(&r->mu);
}

static void on_end(void *userdata, lp2p_status status) {
  reply *r = userdata;
  pthread_mutex_lock(&r->mu);
  r->ended = 1;
  r->status = status;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

static int fail(const char *what, lp2p_status status) {
  char msg[512];
  lp2p_last_error_message(msg, sizeof msg, NULL);
  fprintf(stderr, "echo-client: %s: %s (%s)\n", what, msg, lp2p_status_name((int)status));
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MULTIADDR [MESSAGE]\n", argv[0]);
    return 1;
  }
  const char *message = argc > 2 ? argv[2] : "hello, libp2p";

  lp2p_config *config = NULL;
  lp2p_node *node = NULL;
  lp2p_status st = lp2p_config_new(&config);
  if (st == LP2P_STATUS_OK) st = lp2p_node_start(config, &node);
  lp2p_config_free(config);
  if (st != LP2P_STATUS_OK) return fail("start", st);

  reply r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, LP2P_STATUS_OK};
  char *peer = NULL;
  lp2p_stream *stream = NULL;
  int rc = 1;
  if ((st = lp2p_node_dial(node, argv[1], &peer)) != LP2P_STATUS_OK) {
    fail("dial", st);
  } else if ((st = lp2p_node_new_stream(node, peer, "/echo/1.0.0", &stream)) != LP2P_STATUS_OK) {
    fail("new stream", st);
  } else if ((st = lp2p_stream_start_reading(stream, on_data, on_end, &r, NULL)) != LP2P_STATUS_OK ||
             (st = lp2p_stream_write(stream, (const uint8_t *)message, strlen(message), NULL, NULL)) !=
                 LP2P_STATUS_OK ||
             (st = lp2p_stream_close_write(stream, NULL, NULL)) != LP2P_STATUS_OK) {
    fail("stream", st);
  } else {
    pthread_mutex_lock(&r.mu);
    while (!r.ended) pthread_cond_wait(&r.cv, &r.mu);
    pthread_mutex_unlock(&r.mu);
    if (r.status != LP2P_STATUS_OK) {
      fprintf(stderr, "echo-client: stream ended with %s\n", lp2p_status_name((int)r.status));
    } else {
      printf("%s\n", r.buf ? r.buf : "");
      rc = (r.len == strlen(message) && memcmp(r.buf, message, r.len) == 0) ? 0 : 1;
    }
  }
  lp2p_stream_free(stream);
  lp2p_string_free(peer);
  lp2p_node_free(node);
  free(r.buf);
  return rc;
}
