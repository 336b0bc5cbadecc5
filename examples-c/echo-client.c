/*
 * echo-client: send a message on an /echo/1.0.0 stream and print the reply.
 *
 *   ./echo-client /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW... [MESSAGE | -]
 *
 * With "-" the message is read from stdin (any size, any bytes) and the
 * reply is written to stdout as is. The message goes out in chunks; when the
 * write queue is full (LP2P_STATUS_WOULD_BLOCK) this thread waits for a
 * write's completion and writes the same chunk again (the back-pressure
 * recipe of lp2p.h for a thread that is not a callback). The reply is read
 * through callbacks at the same time.
 *
 * Exits 0 when the reply equals the message.
 */
#include "lp2p.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (64 * 1024)

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint8_t *buf; /* the reply so far */
  size_t len, cap;
  int ended;
  lp2p_status status;
  int out_of_memory;
  size_t completed; /* write completions run so far */
  lp2p_status write_status; /* the first failed completion, or OK */
} reply;

static void on_data(void *userdata, const uint8_t *data, size_t len) {
  reply *r = userdata;
  pthread_mutex_lock(&r->mu);
  if (r->len + len > r->cap) {
    size_t cap = r->cap ? r->cap : CHUNK;
    while (cap < r->len + len) cap *= 2;
    uint8_t *grown = realloc(r->buf, cap);
    if (grown) {
      r->buf = grown;
      r->cap = cap;
    }
  }
  if (r->len + len <= r->cap) {
    memcpy(r->buf + r->len, data, len);
    r->len += len;
  } else {
    r->out_of_memory = 1;
  }
  pthread_mutex_unlock(&r->mu);
}

static void on_end(void *userdata, lp2p_status status) {
  reply *r = userdata;
  pthread_mutex_lock(&r->mu);
  r->ended = 1;
  r->status = status;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

/* Each accepted write completes once; waiting for one frees queue room. */
static void on_written(void *userdata, lp2p_status status) {
  reply *r = userdata;
  pthread_mutex_lock(&r->mu);
  r->completed++;
  if (status != LP2P_STATUS_OK && r->write_status == LP2P_STATUS_OK) r->write_status = status;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

static int fail(const char *what, lp2p_status status);

/* Writes all of msg, waiting for a completion whenever the queue is full.
   Says why on stderr when it fails. */
static lp2p_status send_all(lp2p_stream *stream, reply *r, const uint8_t *msg, size_t len) {
  size_t off = 0, accepted = 0;
  while (off < len) {
    size_t n = len - off < CHUNK ? len - off : CHUNK;
    pthread_mutex_lock(&r->mu);
    size_t seen = r->completed;
    lp2p_status failed = r->write_status;
    pthread_mutex_unlock(&r->mu);
    if (failed != LP2P_STATUS_OK) {
      fprintf(stderr, "echo-client: a write completed with %s\n", lp2p_status_name((int)failed));
      return failed;
    }
    lp2p_status st = lp2p_stream_write(stream, msg + off, n, on_written, r);
    if (st == LP2P_STATUS_OK) {
      accepted++;
      off += n;
    } else if (st == LP2P_STATUS_WOULD_BLOCK) {
      /* Keep the chunk; a completion is owed, wait for it and retry. */
      pthread_mutex_lock(&r->mu);
      while (r->completed == seen && r->completed < accepted) pthread_cond_wait(&r->cv, &r->mu);
      pthread_mutex_unlock(&r->mu);
    } else {
      fail("write", st);
      return st;
    }
  }
  return LP2P_STATUS_OK;
}

static uint8_t *read_stdin(size_t *len) {
  size_t cap = CHUNK, n = 0, got;
  uint8_t *buf = malloc(cap);
  while (buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
    n += got;
    if (n == cap) {
      uint8_t *grown = realloc(buf, cap * 2);
      if (!grown) {
        free(buf);
        return NULL;
      }
      buf = grown;
      cap *= 2;
    }
  }
  *len = n;
  return buf;
}

static int fail(const char *what, lp2p_status status) {
  char msg[512];
  lp2p_last_error_message(msg, sizeof msg, NULL);
  fprintf(stderr, "echo-client: %s: %s (%s)\n", what, msg, lp2p_status_name((int)status));
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MULTIADDR [MESSAGE | -]\n", argv[0]);
    return 1;
  }
  int from_stdin = argc > 2 && strcmp(argv[2], "-") == 0;
  size_t message_len = 0;
  uint8_t *message = NULL;
  if (from_stdin) {
    message = read_stdin(&message_len);
  } else {
    const char *text = argc > 2 ? argv[2] : "hello, libp2p";
    message_len = strlen(text);
    message = malloc(message_len + 1);
    if (message) memcpy(message, text, message_len + 1);
  }
  if (!message) {
    fprintf(stderr, "echo-client: out of memory\n");
    return 1;
  }

  lp2p_config *config = NULL;
  lp2p_node *node = NULL;
  lp2p_status st = lp2p_config_new(&config);
  if (st == LP2P_STATUS_OK) st = lp2p_node_start(config, &node);
  lp2p_config_free(config);
  if (st != LP2P_STATUS_OK) {
    free(message);
    return fail("start", st);
  }

  reply r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0, LP2P_STATUS_OK, 0, 0, LP2P_STATUS_OK};
  char *peer = NULL;
  lp2p_stream *stream = NULL;
  int rc = 1;
  if ((st = lp2p_node_dial(node, argv[1], &peer)) != LP2P_STATUS_OK) {
    fail("dial", st);
  } else if ((st = lp2p_node_new_stream(node, peer, "/echo/1.0.0", &stream)) != LP2P_STATUS_OK) {
    fail("new stream", st);
  } else if ((st = lp2p_stream_start_reading(stream, on_data, on_end, &r, NULL)) != LP2P_STATUS_OK) {
    fail("start reading", st);
  } else if (send_all(stream, &r, message, message_len) != LP2P_STATUS_OK) {
    /* send_all said why */
  } else if ((st = lp2p_stream_close_write(stream, NULL, NULL)) != LP2P_STATUS_OK) {
    fail("close", st);
  } else {
    pthread_mutex_lock(&r.mu);
    while (!r.ended) pthread_cond_wait(&r.cv, &r.mu);
    pthread_mutex_unlock(&r.mu);
    if (r.status != LP2P_STATUS_OK) {
      fprintf(stderr, "echo-client: stream ended with %s after %zu of %zu bytes\n", lp2p_status_name((int)r.status),
              r.len, message_len);
    } else if (r.out_of_memory) {
      fprintf(stderr, "echo-client: out of memory for the reply\n");
    } else {
      if (from_stdin) {
        fwrite(r.buf, 1, r.len, stdout);
      } else {
        printf("%.*s\n", (int)r.len, r.buf ? (const char *)r.buf : "");
      }
      rc = (r.len == message_len && (r.len == 0 || memcmp(r.buf, message, r.len) == 0)) ? 0 : 1;
      if (rc != 0) fprintf(stderr, "echo-client: reply differs: %zu bytes back of %zu sent\n", r.len, message_len);
    }
  }
  lp2p_stream_free(stream); /* runs the write completions still owed, then no callback runs */
  lp2p_string_free(peer);
  lp2p_node_free(node);
  free(r.buf);
  free(message);
  return rc;
}
