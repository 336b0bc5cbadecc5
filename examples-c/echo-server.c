/*
 * echo-server: serve /echo/1.0.0 (and ping, identify) until SIGINT/SIGTERM.
 *
 *   ./echo-server [LISTEN_MULTIADDR] [SECONDS] [HIGH_MARK]
 *
 * Prints the addresses to dial, then one line per connection opened or
 * closed. Each echo stream is driven by callbacks and follows the
 * back-pressure recipe of lp2p.h: bytes read are written back; when the
 * write queue is full (LP2P_STATUS_WOULD_BLOCK) or past a high mark, the
 * unsent bytes are kept and reading pauses; a write's completion writes the
 * kept bytes and resumes reading below a low mark. At the end of the stream
 * the write side is closed, and the stream freed once the close completed.
 * SECONDS > 0 stops the server after that long. HIGH_MARK (bytes, default
 * 1 MiB) is the high mark; the low mark is a quarter of it. A high mark above
 * LP2P_STREAM_MAX_QUEUED_BYTES leaves WOULD_BLOCK as the only signal.
 */
#define _POSIX_C_SOURCE 200809L
#include "lp2p.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Pause reading above high_mark queued bytes, resume below low_mark. Set
   once in main before the node starts. */
static size_t high_mark = 1024 * 1024;
static size_t low_mark = 256 * 1024;

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

/* One echo stream. Only this stream's callbacks touch it once reading has
   started, and lp2p runs them one at a time, so it needs no lock. */
typedef struct echo {
  lp2p_stream *stream;
  uint8_t *kept; /* bytes a write refused with WOULD_BLOCK, to write again */
  size_t kept_len;
  int paused;
  int read_done;  /* on_end ran with LP2P_STATUS_OK */
  int close_sent; /* lp2p_stream_close_write accepted */
  int freeing;    /* lp2p_stream_free called: owed callbacks only release */
  /* Callbacks still owed: the reader (until its finalizer), each accepted
     write and the close. The last one to finish frees this struct. */
  int refs;
} echo;

static void release(echo *e) {
  if (--e->refs == 0) {
    free(e->kept);
    free(e);
  }
}

/* Frees the stream; the callbacks still owed run inside and only release. */
static void finish(echo *e) {
  if (e->freeing) return;
  e->freeing = 1;
  lp2p_stream_free(e->stream);
}

static void on_written(void *userdata, lp2p_status status);
static void on_closed(void *userdata, lp2p_status status);

/* Queues `len` bytes; returns the status of lp2p_stream_write. */
static lp2p_status send_back(echo *e, const uint8_t *data, size_t len) {
  lp2p_status st = lp2p_stream_write(e->stream, data, len, on_written, e);
  if (st == LP2P_STATUS_OK) e->refs++;
  return st;
}

/* Keeps a copy of bytes the queue refused (on_data's buffer is borrowed). */
static int keep(echo *e, const uint8_t *data, size_t len) {
  uint8_t *grown = realloc(e->kept, e->kept_len + len);
  if (!grown) return 0;
  memcpy(grown + e->kept_len, data, len);
  e->kept = grown;
  e->kept_len += len;
  return 1;
}

/* Closes our side once the remote closed its side and nothing is kept. */
static void close_if_done(echo *e) {
  if (!e->read_done || e->kept_len > 0 || e->close_sent) return;
  if (lp2p_stream_close_write(e->stream, on_closed, e) == LP2P_STATUS_OK) {
    e->close_sent = 1;
    e->refs++;
  } else {
    finish(e);
  }
}

static size_t queued(const echo *e) {
  size_t n = 0;
  return lp2p_stream_queued_bytes(e->stream, &n) == LP2P_STATUS_OK ? n : 0;
}

/* Runs on an engine thread: write back what arrived. */
static void echo_data(void *userdata, const uint8_t *data, size_t len) {
  echo *e = userdata;
  if (e->freeing) return;
  lp2p_status st = e->kept_len > 0 ? LP2P_STATUS_WOULD_BLOCK : send_back(e, data, len);
  if (st == LP2P_STATUS_WOULD_BLOCK) {
    /* Not an error: keep the bytes and wait for a completion. */
    if (!keep(e, data, len)) {
      lp2p_stream_reset(e->stream);
      return;
    }
  } else if (st != LP2P_STATUS_OK) {
    lp2p_stream_reset(e->stream); /* on_end follows with the reset */
    return;
  }
  if (e->kept_len > 0 || queued(e) > high_mark) {
    lp2p_stream_pause(e->stream); /* from on_data: no on_data starts after */
    e->paused = 1;
  }
}

/* A write finished: write the kept bytes, and resume below the low mark. */
static void on_written(void *userdata, lp2p_status status) {
  echo *e = userdata;
  if (e->freeing) {
    release(e);
    return;
  }
  if (status != LP2P_STATUS_OK) {
    /* The stream broke: on_end (if still reading) or on_closed follows. */
    lp2p_stream_reset(e->stream);
    if (e->read_done && !e->close_sent) finish(e);
    release(e);
    return;
  }
  if (e->kept_len > 0 && send_back(e, e->kept, e->kept_len) == LP2P_STATUS_OK) {
    free(e->kept);
    e->kept = NULL;
    e->kept_len = 0;
  }
  if (e->paused && e->kept_len == 0 && queued(e) < low_mark) {
    lp2p_stream_resume(e->stream);
    e->paused = 0;
  }
  close_if_done(e);
  release(e);
}

/* The close went out (or failed): the stream is done. */
static void on_closed(void *userdata, lp2p_status status) {
  (void)status;
  echo *e = userdata;
  finish(e);
  release(e);
}

/* The remote closed its side (or the stream failed). */
static void echo_end(void *userdata, lp2p_status status) {
  echo *e = userdata;
  if (e->freeing) return;
  if (status != LP2P_STATUS_OK) {
    finish(e);
    return;
  }
  e->read_done = 1;
  close_if_done(e);
}

/* The reader's finalizer: no on_data/on_end follows. */
static void echo_reader_done(void *userdata) { release(userdata); }

/* A new inbound /echo/1.0.0 stream: we own it from here. */
static void echo_handler(void *userdata, lp2p_stream *stream) {
  (void)userdata;
  echo *e = calloc(1, sizeof *e);
  if (!e) {
    lp2p_stream_free(stream);
    return;
  }
  e->stream = stream;
  e->refs = 1; /* the reader's, released by its finalizer */
  if (lp2p_stream_start_reading(stream, echo_data, echo_end, e, echo_reader_done) != LP2P_STATUS_OK) {
    lp2p_stream_free(stream);
    free(e);
  }
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
  if (argc > 3) {
    high_mark = strtoull(argv[3], NULL, 10);
    low_mark = high_mark / 4;
  }

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
