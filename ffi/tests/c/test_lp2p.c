/*
 * C tests of liblp2p through the public header only. Calls every exported
 * function, error paths included; prints "N passed, N failed" last and exits
 * non-zero on any failure. Run it with ffi/tests/c/run.sh (AddressSanitizer
 * and UBSan, or valgrind).
 */
#define _POSIX_C_SOURCE 200809L
#include "lp2p.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int passed, failed;

static const char *last_error(void) {
  static char buf[512];
  size_t n = 0;
  lp2p_last_error_message(buf, sizeof buf, &n);
  return buf;
}

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      passed++;                                                                \
    } else {                                                                   \
      failed++;                                                                \
      fprintf(stderr, "FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, \
              #cond, last_error());                                            \
    }                                                                          \
  } while (0)

#define CHECK_STATUS(expr, expected)                                           \
  do {                                                                         \
    lp2p_status s_ = (expr);                                                   \
    if (s_ == (expected)) {                                                    \
      passed++;                                                                \
    } else {                                                                   \
      failed++;                                                                \
      fprintf(stderr, "FAIL %s:%d: %s = %s, expected %s (last error: %s)\n",  \
              __FILE__, __LINE__, #expr, lp2p_status_name((int)s_),            \
              lp2p_status_name((int)(expected)), last_error());                \
    }                                                                          \
  } while (0)

#define OK(expr) CHECK_STATUS(expr, LP2P_STATUS_OK)

/* ---- waiting for callbacks ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void signal_all(void) {
  pthread_cond_broadcast(&cv);
}

/* Waits until *counter >= target or timeout; returns whether reached. */
static int wait_for(volatile int *counter, int target, int timeout_ms) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&mu);
  while (*counter < target) {
    if (pthread_cond_timedwait(&cv, &mu, &deadline) != 0) break;
  }
  int ok = *counter >= target;
  pthread_mutex_unlock(&mu);
  return ok;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- a reader that collects bytes ---- */

typedef struct {
  unsigned char *data;
  size_t len, cap;
  volatile int ended;
  lp2p_status end_status;
  volatile int finalized;
  volatile int chunks;
  lp2p_stream *free_on_first_data; /* free this stream inside on_data */
} collector;

static void collect_data(void *ud, const uint8_t *data, size_t len) {
  collector *c = ud;
  pthread_mutex_lock(&mu);
  if (c->len + len > c->cap) {
    size_t cap = (c->len + len) * 2;
    c->data = realloc(c->data, cap);
    c->cap = cap;
  }
  memcpy(c->data + c->len, data, len);
  c->len += len;
  c->chunks++;
  lp2p_stream *to_free = c->free_on_first_data;
  c->free_on_first_data = NULL;
  signal_all();
  pthread_mutex_unlock(&mu);
  if (to_free) lp2p_stream_free(to_free);
}

static void collect_end(void *ud, lp2p_status status) {
  collector *c = ud;
  pthread_mutex_lock(&mu);
  c->end_status = status;
  c->ended++;
  signal_all();
  pthread_mutex_unlock(&mu);
}

static void collect_finalize(void *ud) {
  collector *c = ud;
  pthread_mutex_lock(&mu);
  c->finalized++;
  signal_all();
  pthread_mutex_unlock(&mu);
}

static size_t collected(collector *c) {
  pthread_mutex_lock(&mu);
  size_t n = c->len;
  pthread_mutex_unlock(&mu);
  return n;
}

/* ---- write completions ---- */

typedef struct {
  volatile int done;
  volatile int ok;
  size_t bytes_ok;
  lp2p_status last;
} completions;

static void on_complete(void *ud, lp2p_status status) {
  completions *c = ud;
  pthread_mutex_lock(&mu);
  c->done++;
  if (status == LP2P_STATUS_OK) c->ok++;
  c->last = status;
  signal_all();
  pthread_mutex_unlock(&mu);
}

/* ---- server handlers ---- */

static volatile int echo_streams, echo_finalized, sink_finalized;

/* Echo: write back what arrives; at end of stream close and free. */
static void echo_data(void *ud, const uint8_t *data, size_t len) {
  lp2p_stream *s = ud;
  lp2p_status st = lp2p_stream_write(s, data, len, NULL, NULL);
  if (st != LP2P_STATUS_OK) fprintf(stderr, "echo write: %s\n", lp2p_status_name((int)st));
}

static void echo_end(void *ud, lp2p_status status) {
  lp2p_stream *s = ud;
  if (status == LP2P_STATUS_OK) lp2p_stream_close_write(s, NULL, NULL);
  /* Freeing inside the stream's own callback is allowed; after
     close_write the queued bytes and the close still go out. */
  lp2p_stream_free(s);
}

static void echo_handler(void *ud, lp2p_stream *stream) {
  (void)ud;
  pthread_mutex_lock(&mu);
  echo_streams++;
  signal_all();
  pthread_mutex_unlock(&mu);
  lp2p_status st = lp2p_stream_start_reading(stream, echo_data, echo_end, stream, NULL);
  if (st != LP2P_STATUS_OK) lp2p_stream_free(stream);
}

static void count_finalize(void *ud) {
  pthread_mutex_lock(&mu);
  (*(volatile int *)ud)++;
  signal_all();
  pthread_mutex_unlock(&mu);
}

/* Sink: keeps the stream (paused or not) for the test to drive. */
static lp2p_stream *sink_stream;
static collector sink_reader;
static volatile int sink_streams;
static int sink_start_paused;

static void sink_handler(void *ud, lp2p_stream *stream) {
  (void)ud;
  lp2p_stream_start_reading(stream, collect_data, collect_end, &sink_reader, collect_finalize);
  if (sink_start_paused) lp2p_stream_pause(stream);
  pthread_mutex_lock(&mu);
  sink_stream = stream;
  sink_streams++;
  signal_all();
  pthread_mutex_unlock(&mu);
}

/* ---- events ---- */

typedef struct {
  volatile int established, closed, listen, identified, finalized;
  int outbound_seen;
  char identified_agent[128];
  char identified_peer[128];
  lp2p_status blocking_in_callback;
  const lp2p_node *node;
} event_log;

static void on_event(void *ud, const lp2p_event *ev) {
  event_log *log = ud;
  /* A blocking call from a callback must refuse instead of deadlocking. */
  uint64_t rtt;
  lp2p_status st = lp2p_node_ping(log->node, lp2p_node_peer_id(log->node), &rtt);
  pthread_mutex_lock(&mu);
  log->blocking_in_callback = st;
  switch (ev->kind) {
    case LP2P_EVENT_KIND_CONNECTION_ESTABLISHED:
      log->established++;
      if (ev->outbound) log->outbound_seen = 1;
      break;
    case LP2P_EVENT_KIND_CONNECTION_CLOSED:
      log->closed++;
      break;
    case LP2P_EVENT_KIND_NEW_LISTEN_ADDR:
      log->listen++;
      break;
    case LP2P_EVENT_KIND_EXPIRED_LISTEN_ADDR:
    case LP2P_EVENT_KIND_DISCOVERED: /* these nodes run no mDNS */
    case LP2P_EVENT_KIND_EXTERNAL_ADDR_CONFIRMED:
    case LP2P_EVENT_KIND_EXTERNAL_ADDR_EXPIRED:
    case LP2P_EVENT_KIND_RESOURCE_LIMIT_EXCEEDED:
      break;
    case LP2P_EVENT_KIND_IDENTIFIED:
      snprintf(log->identified_agent, sizeof log->identified_agent, "%s",
               ev->agent_version ? ev->agent_version : "");
      snprintf(log->identified_peer, sizeof log->identified_peer, "%s", ev->peer_id ? ev->peer_id : "");
      log->identified++;
      break;
  }
  signal_all();
  pthread_mutex_unlock(&mu);
}

static void event_finalize(void *ud) {
  event_log *log = ud;
  pthread_mutex_lock(&mu);
  log->finalized++;
  signal_all();
  pthread_mutex_unlock(&mu);
}

static int list_contains(const lp2p_string_list *list, const char *s) {
  for (size_t i = 0; i < lp2p_string_list_len(list); i++)
    if (strcmp(lp2p_string_list_get(list, i), s) == 0) return 1;
  return 0;
}

/* ---- the tests ---- */

static void test_version_and_status(void) {
  CHECK(strcmp(lp2p_version(), LP2P_VERSION_STRING) == 0);
  char expect[64];
  snprintf(expect, sizeof expect, "%d.%d.%d", LP2P_VERSION_MAJOR, LP2P_VERSION_MINOR, LP2P_VERSION_PATCH);
  CHECK(strcmp(LP2P_VERSION_STRING, expect) == 0);
  CHECK(LP2P_VERSION_NUMBER == LP2P_VERSION_MAJOR * 1000000 + LP2P_VERSION_MINOR * 1000 + LP2P_VERSION_PATCH);
  CHECK(LP2P_STATUS_OK == 0);
  CHECK(strcmp(lp2p_status_name(LP2P_STATUS_TIMEOUT), "LP2P_STATUS_TIMEOUT") == 0);
  CHECK(strcmp(lp2p_status_name(LP2P_STATUS_PANIC), "LP2P_STATUS_PANIC") == 0);
  CHECK(strcmp(lp2p_status_name(12345), "LP2P_STATUS_UNKNOWN") == 0);
}

static void test_last_error(void) {
  CHECK_STATUS(lp2p_config_new(NULL), LP2P_STATUS_NULL_ARGUMENT);
  char buf[8];
  size_t n = 99;
  OK(lp2p_last_error_message(buf, sizeof buf, &n));
  CHECK(n == 7 && strlen(buf) == 7); /* truncated to fit, NUL-terminated */
  OK(lp2p_last_error_message(NULL, 0, &n));
  CHECK(n == 0);
  CHECK_STATUS(lp2p_last_error_message(NULL, 4, NULL), LP2P_STATUS_NULL_ARGUMENT);
  OK(lp2p_last_error_message(buf, sizeof buf, NULL));
}

static void test_keys(void) {
  lp2p_keypair *a = NULL, *b = NULL, *c = NULL;
  CHECK_STATUS(lp2p_keypair_generate_ed25519(NULL), LP2P_STATUS_NULL_ARGUMENT);
  OK(lp2p_keypair_generate_ed25519(&a));
  CHECK(a != NULL);

  uint8_t seed[32];
  for (int i = 0; i < 32; i++) seed[i] = (uint8_t)(i * 7 + 1);
  CHECK_STATUS(lp2p_keypair_from_ed25519_seed(seed, 31, &b), LP2P_STATUS_INVALID_ARGUMENT);
  CHECK(b == NULL); /* outputs untouched on failure */
  CHECK_STATUS(lp2p_keypair_from_ed25519_seed(NULL, 32, &b), LP2P_STATUS_NULL_ARGUMENT);
  OK(lp2p_keypair_from_ed25519_seed(seed, 32, &b));
  OK(lp2p_keypair_from_ed25519_seed(seed, 32, &c));
  char *id_b = NULL, *id_c = NULL, *id_a = NULL;
  OK(lp2p_keypair_peer_id(b, &id_b));
  OK(lp2p_keypair_peer_id(c, &id_c));
  OK(lp2p_keypair_peer_id(a, &id_a));
  CHECK(id_b && id_c && strcmp(id_b, id_c) == 0); /* same seed, same peer */
  CHECK(id_a && id_b && strcmp(id_a, id_b) != 0);
  CHECK_STATUS(lp2p_keypair_peer_id(NULL, &id_a), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_keypair_peer_id(a, NULL), LP2P_STATUS_NULL_ARGUMENT);

  uint8_t *bytes = NULL;
  size_t len = 0;
  OK(lp2p_keypair_to_bytes(a, &bytes, &len));
  CHECK(bytes != NULL && len > 0);
  CHECK_STATUS(lp2p_keypair_to_bytes(NULL, &bytes, &len), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_keypair_to_bytes(a, NULL, &len), LP2P_STATUS_NULL_ARGUMENT);
  lp2p_keypair *loaded = NULL;
  OK(lp2p_keypair_from_bytes(bytes, len, &loaded));
  char *id_loaded = NULL;
  OK(lp2p_keypair_peer_id(loaded, &id_loaded));
  CHECK(id_loaded && strcmp(id_loaded, id_a) == 0);
  uint8_t garbage[5] = {1, 2, 3, 4, 5};
  lp2p_keypair *bad = NULL;
  CHECK_STATUS(lp2p_keypair_from_bytes(garbage, sizeof garbage, &bad), LP2P_STATUS_INVALID_KEY);
  CHECK(bad == NULL);
  CHECK(strlen(last_error()) > 0);
  CHECK_STATUS(lp2p_keypair_from_bytes(NULL, 4, &bad), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_keypair_from_bytes(bytes, len, NULL), LP2P_STATUS_NULL_ARGUMENT);

  uint8_t *pub = NULL;
  size_t pub_len = 0;
  OK(lp2p_keypair_public_key(a, &pub, &pub_len));
  CHECK(pub != NULL && pub_len > 0 && pub_len < len); /* smaller than the private encoding */
  CHECK_STATUS(lp2p_keypair_public_key(NULL, &pub, &pub_len), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_keypair_public_key(a, &pub, NULL), LP2P_STATUS_NULL_ARGUMENT);
  lp2p_bytes_free(pub, pub_len);
  lp2p_bytes_free(bytes, len);
  lp2p_bytes_free(NULL, 0);
  lp2p_string_free(id_a);
  lp2p_string_free(id_b);
  lp2p_string_free(id_c);
  lp2p_string_free(id_loaded);
  lp2p_string_free(NULL);
  lp2p_keypair_free(a);
  lp2p_keypair_free(b);
  lp2p_keypair_free(c);
  lp2p_keypair_free(loaded);
  lp2p_keypair_free(NULL);
  passed++;
}

static void test_config(void) {
  lp2p_config *cfg = NULL;
  OK(lp2p_config_new(&cfg));
  CHECK_STATUS(lp2p_config_add_listen_addr(cfg, "not a multiaddr"), LP2P_STATUS_INVALID_MULTIADDR);
  CHECK(strstr(last_error(), "multiaddr") != NULL);
  CHECK_STATUS(lp2p_config_add_listen_addr(cfg, NULL), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_config_add_listen_addr(NULL, "/ip4/127.0.0.1/tcp/0"), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_config_add_listen_addr(cfg, "/ip4/127.0.0.1/tcp/\xff"), LP2P_STATUS_INVALID_ARGUMENT);
  OK(lp2p_config_set_timeouts(cfg, 5000, 5000, 0, 0));
  CHECK_STATUS(lp2p_config_set_timeouts(NULL, 1, 1, 1, 1), LP2P_STATUS_NULL_ARGUMENT);
  OK(lp2p_config_set_limits(cfg, 64, 4, 0));
  CHECK_STATUS(lp2p_config_set_limits(NULL, 1, 1, 1), LP2P_STATUS_NULL_ARGUMENT);
  OK(lp2p_config_set_agent_version(cfg, "c-test/1.0"));
  CHECK_STATUS(lp2p_config_set_agent_version(cfg, ""), LP2P_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(lp2p_config_set_agent_version(cfg, NULL), LP2P_STATUS_NULL_ARGUMENT);
  OK(lp2p_config_set_protocol_version(cfg, "ipfs/0.1.0"));
  CHECK_STATUS(lp2p_config_set_protocol_version(NULL, "x"), LP2P_STATUS_NULL_ARGUMENT);
  lp2p_keypair *kp = NULL;
  OK(lp2p_keypair_generate_ed25519(&kp));
  OK(lp2p_config_set_keypair(cfg, kp));
  CHECK_STATUS(lp2p_config_set_keypair(cfg, NULL), LP2P_STATUS_NULL_ARGUMENT);
  lp2p_keypair_free(kp);
  lp2p_config_free(cfg);
  lp2p_config_free(NULL);

  lp2p_node *node = NULL;
  CHECK_STATUS(lp2p_node_start(NULL, &node), LP2P_STATUS_NULL_ARGUMENT);
  OK(lp2p_config_new(&cfg));
  CHECK_STATUS(lp2p_node_start(cfg, NULL), LP2P_STATUS_NULL_ARGUMENT);
  lp2p_config_free(cfg);
}

static lp2p_node *start_node(const char *agent, const lp2p_keypair *kp, int listen) {
  lp2p_config *cfg = NULL;
  lp2p_node *node = NULL;
  OK(lp2p_config_new(&cfg));
  if (listen) OK(lp2p_config_add_listen_addr(cfg, "/ip4/127.0.0.1/tcp/0"));
  OK(lp2p_config_set_agent_version(cfg, agent));
  OK(lp2p_config_set_timeouts(cfg, 5000, 5000, 5000, 5000));
  if (kp) OK(lp2p_config_set_keypair(cfg, kp));
  OK(lp2p_node_start(cfg, &node));
  lp2p_config_free(cfg);
  return node;
}

/* A valid peer ID that no node here has. */
static char *stranger_id(void) {
  lp2p_keypair *kp = NULL;
  char *id = NULL;
  lp2p_keypair_generate_ed25519(&kp);
  lp2p_keypair_peer_id(kp, &id);
  lp2p_keypair_free(kp);
  return id;
}

/* Opens a stream and checks success. */
static lp2p_stream *open_stream(lp2p_node *node, const char *peer, const char *protocol) {
  lp2p_stream *s = NULL;
  OK(lp2p_node_new_stream(node, peer, protocol, &s));
  return s;
}

/* Polls a node's perf server counters until `served` and `failed` are reached. */
static int wait_perf_stats(lp2p_node *node, uint64_t served, uint64_t failed, lp2p_perf_server_stats *out) {
  for (int i = 0; i < 500; i++) {
    if (lp2p_node_perf_server_stats(node, out) == LP2P_STATUS_OK && out->served >= served && out->failed >= failed)
      return 1;
    sleep_ms(10);
  }
  return 0;
}

/* A node with perf on (bound 1,000,000 bytes): counts checked on its side. */
static void test_perf_enabled(lp2p_node *client) {
  lp2p_config *cfg = NULL;
  lp2p_node *server = NULL;
  OK(lp2p_config_new(&cfg));
  CHECK_STATUS(lp2p_config_set_perf(NULL, true, 0), LP2P_STATUS_NULL_ARGUMENT);
  OK(lp2p_config_add_listen_addr(cfg, "/ip4/127.0.0.1/tcp/0"));
  OK(lp2p_config_set_perf(cfg, true, 1000000));
  OK(lp2p_node_start(cfg, &server));
  lp2p_config_free(cfg);
  if (!server) return;
  lp2p_string_list *protos = NULL;
  OK(lp2p_node_protocols(server, &protos));
  CHECK(list_contains(protos, "/perf/1.0.0"));
  lp2p_string_list_free(protos);
  lp2p_string_list *addrs = NULL;
  OK(lp2p_node_listen_addrs(server, &addrs));
  char *peer = NULL;
  OK(lp2p_node_dial(client, lp2p_string_list_get(addrs, 0), &peer));
  lp2p_string_list_free(addrs);

  /* The counts come back and the times are measured; the server drained and sent them. */
  lp2p_perf_result perf = {0};
  lp2p_perf_server_stats stats = {0};
  OK(lp2p_node_perf(client, peer, 300000, 700000, &perf));
  CHECK(perf.upload_bytes == 300000 && perf.download_bytes == 700000);
  CHECK(perf.upload_us > 0 && perf.download_us > 0);
  CHECK(wait_perf_stats(server, 1, 0, &stats));
  CHECK(stats.served == 1 && stats.bytes_received == 300000 && stats.bytes_sent == 700000);
  OK(lp2p_node_perf(client, peer, 0, 0, &perf));
  CHECK(perf.upload_bytes == 0 && perf.download_bytes == 0);
  /* Over the bound: refused, and nothing sent for it. */
  CHECK_STATUS(lp2p_node_perf(client, peer, 0, 1000001, &perf), LP2P_STATUS_PROTOCOL_ERROR);
  CHECK(wait_perf_stats(server, 2, 1, &stats));
  CHECK(stats.served == 2 && stats.failed == 1 && stats.bytes_received == 300000 && stats.bytes_sent == 700000);
  lp2p_string_free(peer);
  lp2p_node_free(server);
}

static void test_nodes(void) {
  uint8_t seed[32] = {42};
  lp2p_keypair *server_key = NULL;
  OK(lp2p_keypair_from_ed25519_seed(seed, sizeof seed, &server_key));
  char *server_key_id = NULL;
  OK(lp2p_keypair_peer_id(server_key, &server_key_id));

  lp2p_node *server = start_node("c-test-server/1.0", server_key, 1);
  lp2p_node *client = start_node("c-test-client/1.0", NULL, 0);
  lp2p_keypair_free(server_key);
  if (!server || !client) {
    failed++;
    fprintf(stderr, "FAIL: nodes did not start\n");
    lp2p_string_free(server_key_id);
    return;
  }

  /* Identity and addresses. */
  const char *server_id = lp2p_node_peer_id(server);
  CHECK(server_id && strcmp(server_id, server_key_id) == 0);
  CHECK(lp2p_node_peer_id(NULL) == NULL);
  lp2p_string_list *addrs = NULL;
  OK(lp2p_node_listen_addrs(server, &addrs));
  CHECK(lp2p_string_list_len(addrs) >= 1);
  const char *addr = lp2p_string_list_get(addrs, 0);
  CHECK(addr && strstr(addr, "/p2p/") && strstr(addr, server_id));
  CHECK(lp2p_string_list_get(addrs, 1000) == NULL);
  CHECK(lp2p_string_list_get(NULL, 0) == NULL);
  CHECK(lp2p_string_list_len(NULL) == 0);
  CHECK_STATUS(lp2p_node_listen_addrs(NULL, &addrs), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_listen_addrs(server, NULL), LP2P_STATUS_NULL_ARGUMENT);
  char server_addr[512];
  snprintf(server_addr, sizeof server_addr, "%s", addr ? addr : "");

  /* Handlers. */
  OK(lp2p_node_set_stream_handler(server, "/echo/1.0.0", echo_handler, (void *)&echo_finalized, count_finalize));
  OK(lp2p_node_set_stream_handler(server, "/sink/1.0.0", sink_handler, (void *)&sink_finalized, count_finalize));
  CHECK_STATUS(lp2p_node_set_stream_handler(server, "/x", NULL, NULL, NULL), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_set_stream_handler(server, "no-slash", echo_handler, NULL, NULL),
               LP2P_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(lp2p_node_set_stream_handler(NULL, "/x", echo_handler, NULL, NULL), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_set_stream_handler(server, NULL, echo_handler, NULL, NULL), LP2P_STATUS_NULL_ARGUMENT);
  lp2p_string_list *protos = NULL;
  OK(lp2p_node_protocols(server, &protos));
  CHECK(list_contains(protos, "/echo/1.0.0"));
  CHECK(list_contains(protos, "/sink/1.0.0"));
  lp2p_string_list_free(protos);
  CHECK_STATUS(lp2p_node_protocols(NULL, &protos), LP2P_STATUS_NULL_ARGUMENT);

  /* Events. */
  event_log client_events = {0};
  client_events.node = client;
  event_log server_events = {0};
  server_events.node = server;
  OK(lp2p_node_set_event_callback(client, on_event, &client_events, event_finalize));
  OK(lp2p_node_set_event_callback(server, on_event, &server_events, event_finalize));
  CHECK_STATUS(lp2p_node_set_event_callback(NULL, on_event, NULL, NULL), LP2P_STATUS_NULL_ARGUMENT);

  char *bound = NULL;
  OK(lp2p_node_listen(server, "/ip4/127.0.0.1/tcp/0", &bound));
  CHECK(bound && strncmp(bound, "/ip4/127.0.0.1/tcp/", 19) == 0);
  lp2p_string_free(bound);
  CHECK_STATUS(lp2p_node_listen(server, "garbage", NULL), LP2P_STATUS_INVALID_MULTIADDR);
  CHECK(wait_for(&server_events.listen, 1, 5000));

  /* Dial: errors first. */
  char *peer = NULL;
  CHECK_STATUS(lp2p_node_dial(client, "/ip4/127.0.0.1/tcp/notaport", &peer), LP2P_STATUS_INVALID_MULTIADDR);
  CHECK_STATUS(lp2p_node_dial(client, NULL, &peer), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_dial(NULL, server_addr, &peer), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_dial(client, "/ip4/127.0.0.1/tcp/1", &peer), LP2P_STATUS_DIAL_FAILED);
  CHECK(peer == NULL);
  OK(lp2p_node_dial(client, server_addr, &peer));
  CHECK(peer && strcmp(peer, server_id) == 0);
  lp2p_string_free(peer);
  OK(lp2p_node_dial(client, server_addr, NULL)); /* reuses the connection */

  CHECK(wait_for(&client_events.established, 1, 5000));
  CHECK(client_events.outbound_seen);
  CHECK(wait_for(&server_events.established, 1, 5000));
  CHECK(wait_for(&client_events.identified, 1, 5000));
  pthread_mutex_lock(&mu);
  CHECK(strcmp(client_events.identified_agent, "c-test-server/1.0") == 0);
  CHECK(strcmp(client_events.identified_peer, server_id) == 0);
  CHECK(client_events.blocking_in_callback == LP2P_STATUS_BLOCKING_IN_CALLBACK);
  pthread_mutex_unlock(&mu);

  /* Connection state and peer store. */
  bool connected = false;
  OK(lp2p_node_is_connected(client, server_id, &connected));
  CHECK(connected);
  CHECK_STATUS(lp2p_node_is_connected(client, "not-a-peer", &connected), LP2P_STATUS_INVALID_PEER_ID);
  CHECK_STATUS(lp2p_node_is_connected(client, server_id, NULL), LP2P_STATUS_NULL_ARGUMENT);
  lp2p_string_list *peers = NULL;
  OK(lp2p_node_connected_peers(client, &peers));
  CHECK(list_contains(peers, server_id));
  lp2p_string_list_free(peers);
  CHECK_STATUS(lp2p_node_connected_peers(NULL, &peers), LP2P_STATUS_NULL_ARGUMENT);

  lp2p_peer_info *info = NULL;
  OK(lp2p_node_peer_info(client, server_id, &info));
  CHECK(lp2p_string_list_len(lp2p_peer_info_addrs(info)) >= 1);
  CHECK(list_contains(lp2p_peer_info_protocols(info), "/echo/1.0.0"));
  CHECK(lp2p_peer_info_agent_version(info) && strcmp(lp2p_peer_info_agent_version(info), "c-test-server/1.0") == 0);
  CHECK(lp2p_peer_info_protocol_version(info) != NULL);
  /* The server's signed peer record arrived with identify and verified. */
  const lp2p_string_list *record = lp2p_peer_info_peer_record_addrs(info);
  CHECK(record != NULL && lp2p_string_list_len(record) >= 1);
  lp2p_peer_info_free(info);
  lp2p_peer_info_free(NULL);
  CHECK(lp2p_peer_info_addrs(NULL) == NULL);
  CHECK(lp2p_peer_info_peer_record_addrs(NULL) == NULL);
  CHECK(lp2p_peer_info_protocols(NULL) == NULL);
  CHECK(lp2p_peer_info_agent_version(NULL) == NULL);
  CHECK(lp2p_peer_info_protocol_version(NULL) == NULL);
  char *stranger = stranger_id();
  info = NULL;
  CHECK_STATUS(lp2p_node_peer_info(client, stranger, &info), LP2P_STATUS_UNKNOWN_PEER);
  CHECK(info == NULL);
  CHECK_STATUS(lp2p_node_peer_info(client, "xyz", &info), LP2P_STATUS_INVALID_PEER_ID);

  /* Ping. */
  uint64_t rtt = 0;
  OK(lp2p_node_ping(client, server_id, &rtt));
  CHECK(rtt > 0 && rtt < 5000000);
  CHECK_STATUS(lp2p_node_ping(client, stranger, &rtt), LP2P_STATUS_NO_ROUTE);
  CHECK_STATUS(lp2p_node_ping(client, "12D3KooWnotbase58!", &rtt), LP2P_STATUS_INVALID_PEER_ID);
  CHECK_STATUS(lp2p_node_ping(client, server_id, NULL), LP2P_STATUS_NULL_ARGUMENT);

  /* Perf is off by default: not listed, refused in negotiation, nothing served. */
  lp2p_perf_result perf = {0};
  lp2p_perf_server_stats perf_stats = {0};
  OK(lp2p_node_protocols(server, &protos));
  CHECK(!list_contains(protos, "/perf/1.0.0"));
  lp2p_string_list_free(protos);
  CHECK_STATUS(lp2p_node_perf(client, server_id, 1000, 1000, &perf), LP2P_STATUS_PROTOCOL_NOT_SUPPORTED);
  OK(lp2p_node_perf_server_stats(server, &perf_stats));
  CHECK(perf_stats.served == 0 && perf_stats.failed == 0 && perf_stats.bytes_sent == 0);
  CHECK_STATUS(lp2p_node_perf_server_stats(NULL, &perf_stats), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_perf_server_stats(server, NULL), LP2P_STATUS_NULL_ARGUMENT);
  test_perf_enabled(client);
  CHECK_STATUS(lp2p_node_perf(client, stranger, 1, 1, &perf), LP2P_STATUS_NO_ROUTE);
  CHECK_STATUS(lp2p_node_perf(client, "xyz", 1, 1, &perf), LP2P_STATUS_INVALID_PEER_ID);
  CHECK_STATUS(lp2p_node_perf(client, server_id, 1, 1, NULL), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_perf(NULL, server_id, 1, 1, &perf), LP2P_STATUS_NULL_ARGUMENT);

  /* New stream errors. */
  lp2p_stream *s = NULL;
  CHECK_STATUS(lp2p_node_new_stream(client, server_id, "/nope/1.0.0", &s), LP2P_STATUS_PROTOCOL_NOT_SUPPORTED);
  CHECK(s == NULL);
  CHECK_STATUS(lp2p_node_new_stream(client, stranger, "/echo/1.0.0", &s), LP2P_STATUS_NO_ROUTE);
  CHECK_STATUS(lp2p_node_new_stream(client, server_id, NULL, &s), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_new_stream(client, server_id, "/echo/1.0.0", NULL), LP2P_STATUS_NULL_ARGUMENT);

  /* Echo, with every stream call and its error paths. */
  {
    lp2p_stream *e = open_stream(client, server_id, "/echo/1.0.0");
    CHECK(e != NULL);
    CHECK(strcmp(lp2p_stream_protocol(e), "/echo/1.0.0") == 0);
    CHECK(strcmp(lp2p_stream_peer_id(e), server_id) == 0);
    CHECK(lp2p_stream_protocol(NULL) == NULL);
    CHECK(lp2p_stream_peer_id(NULL) == NULL);
    CHECK_STATUS(lp2p_stream_pause(e), LP2P_STATUS_INVALID_ARGUMENT); /* not reading yet */
    CHECK_STATUS(lp2p_stream_resume(e), LP2P_STATUS_INVALID_ARGUMENT);
    collector got = {0};
    CHECK_STATUS(lp2p_stream_start_reading(e, NULL, collect_end, &got, NULL), LP2P_STATUS_NULL_ARGUMENT);
    OK(lp2p_stream_start_reading(e, collect_data, collect_end, &got, collect_finalize));
    CHECK_STATUS(lp2p_stream_start_reading(e, collect_data, collect_end, &got, collect_finalize),
                 LP2P_STATUS_INVALID_ARGUMENT);
    completions wc = {0};
    const size_t total = 1 << 20; /* 1 MiB in 16 KiB writes */
    unsigned char *pattern = malloc(total);
    for (size_t i = 0; i < total; i++) pattern[i] = (unsigned char)(i * 31 + (i >> 9));
    int writes = 0;
    for (size_t off = 0; off < total; off += 16384) {
      OK(lp2p_stream_write(e, pattern + off, 16384, on_complete, &wc));
      writes++;
    }
    OK(lp2p_stream_pause(e));
    OK(lp2p_stream_pause(e)); /* twice is fine */
    OK(lp2p_stream_resume(e));
    OK(lp2p_stream_write(e, NULL, 0, NULL, NULL)); /* empty write */
    CHECK_STATUS(lp2p_stream_write(e, NULL, 5, NULL, NULL), LP2P_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(lp2p_stream_write(NULL, pattern, 5, NULL, NULL), LP2P_STATUS_NULL_ARGUMENT);
    completions cc = {0};
    OK(lp2p_stream_close_write(e, on_complete, &cc));
    CHECK_STATUS(lp2p_stream_close_write(e, NULL, NULL), LP2P_STATUS_STREAM_CLOSED); /* double close */
    CHECK_STATUS(lp2p_stream_write(e, pattern, 5, on_complete, &wc), LP2P_STATUS_STREAM_CLOSED);
    CHECK(wait_for(&wc.done, writes, 10000));
    CHECK(wc.ok == writes);
    CHECK(wait_for(&cc.done, 1, 10000));
    CHECK(cc.last == LP2P_STATUS_OK);
    CHECK(wait_for(&got.ended, 1, 10000));
    CHECK(got.end_status == LP2P_STATUS_OK);
    CHECK(got.len == total && memcmp(got.data, pattern, total) == 0);
    CHECK(wait_for(&got.finalized, 1, 5000)); /* right after on_end */
    lp2p_stream_free(e);
    CHECK(got.finalized == 1 && got.ended == 1);
    free(pattern);
    free(got.data);
  }

  /* Back-pressure: the sink starts paused, so the window fills and writes
     stall; resuming lets everything through. */
  {
    sink_start_paused = 1;
    lp2p_stream *w = open_stream(client, server_id, "/sink/1.0.0");
    CHECK(wait_for(&sink_streams, 1, 5000));
    const size_t chunk = 65536, total = 3 << 20; /* 3 MiB */
    unsigned char *buf = calloc(1, chunk);
    completions wc = {0};
    int writes = 0;
    for (size_t off = 0; off < total; off += chunk) {
      OK(lp2p_stream_write(w, buf, chunk, on_complete, &wc));
      writes++;
    }
    /* One more write over the queue limit would block. */
    unsigned char *big = calloc(1, LP2P_STREAM_MAX_QUEUED_BYTES);
    CHECK_STATUS(lp2p_stream_write(w, big, LP2P_STREAM_MAX_QUEUED_BYTES, NULL, NULL), LP2P_STATUS_WOULD_BLOCK);
    free(big);
    sleep_ms(1000);
    pthread_mutex_lock(&mu);
    int done_while_paused = wc.done;
    size_t read_while_paused = sink_reader.len;
    pthread_mutex_unlock(&mu);
    CHECK(read_while_paused == 0);
    CHECK(done_while_paused < writes); /* stalled: the remote window closed */
    fprintf(stderr, "back-pressure: %d of %d writes done while paused\n", done_while_paused, writes);
    OK(lp2p_stream_resume(sink_stream));
    CHECK(wait_for(&wc.done, writes, 20000));
    CHECK(wc.ok == writes);
    OK(lp2p_stream_close_write(w, NULL, NULL));
    CHECK(wait_for(&sink_reader.ended, 1, 10000));
    CHECK(collected(&sink_reader) == total);
    CHECK(sink_reader.end_status == LP2P_STATUS_OK);
    lp2p_stream_free(sink_stream);
    CHECK(sink_reader.finalized == 1);
    lp2p_stream_free(w);
    free(buf);
    free(sink_reader.data);
    memset(&sink_reader, 0, sizeof sink_reader);
    sink_stream = NULL;
    sink_start_paused = 0;
  }

  /* Reset: local writes fail, the remote reader ends. */
  {
    lp2p_stream *r = open_stream(client, server_id, "/sink/1.0.0");
    CHECK(wait_for(&sink_streams, 2, 5000));
    OK(lp2p_stream_write(r, (const uint8_t *)"abc", 3, NULL, NULL));
    CHECK(wait_for((volatile int *)&sink_reader.chunks, 1, 5000));
    OK(lp2p_stream_reset(r));
    OK(lp2p_stream_reset(r)); /* twice is fine */
    CHECK_STATUS(lp2p_stream_write(r, (const uint8_t *)"x", 1, NULL, NULL), LP2P_STATUS_STREAM_RESET);
    CHECK_STATUS(lp2p_stream_reset(NULL), LP2P_STATUS_NULL_ARGUMENT);
    CHECK(wait_for(&sink_reader.ended, 1, 5000));
    fprintf(stderr, "remote saw the reset as %s\n", lp2p_status_name((int)sink_reader.end_status));
    lp2p_stream_free(r);
    lp2p_stream_free(sink_stream);
    CHECK(sink_reader.finalized == 1);
    free(sink_reader.data);
    memset(&sink_reader, 0, sizeof sink_reader);
    sink_stream = NULL;
  }

  /* Free while the stream is open, with writes pending and reading on: the
     finalizer and every completion run before free returns. */
  {
    lp2p_stream *f = open_stream(client, server_id, "/echo/1.0.0");
    collector got = {0};
    OK(lp2p_stream_start_reading(f, collect_data, collect_end, &got, collect_finalize));
    completions wc = {0};
    unsigned char buf[4096] = {0};
    int writes = 0;
    for (int i = 0; i < 64; i++) {
      if (lp2p_stream_write(f, buf, sizeof buf, on_complete, &wc) == LP2P_STATUS_OK) writes++;
    }
    lp2p_stream_free(f);
    CHECK(got.finalized == 1);
    CHECK(wc.done == writes);
    CHECK(got.ended == 0); /* free runs the finalizer, not on_end */
    sleep_ms(100);
    CHECK(got.finalized == 1 && wc.done == writes); /* nothing after free */
    free(got.data);
  }

  /* Free from inside the stream's own on_data callback. */
  {
    lp2p_stream *g = open_stream(client, server_id, "/echo/1.0.0");
    collector got = {0};
    got.free_on_first_data = g;
    OK(lp2p_stream_start_reading(g, collect_data, collect_end, &got, collect_finalize));
    OK(lp2p_stream_write(g, (const uint8_t *)"ping", 4, NULL, NULL));
    CHECK(wait_for(&got.finalized, 1, 5000));
    sleep_ms(50);
    CHECK(got.finalized == 1 && got.chunks == 1);
    free(got.data);
  }

  /* Remove a handler: its finalizer runs; new streams are refused. */
  {
    bool removed = false;
    OK(lp2p_node_remove_stream_handler(server, "/sink/1.0.0", &removed));
    CHECK(removed);
    CHECK(wait_for(&sink_finalized, 1, 5000));
    OK(lp2p_node_remove_stream_handler(server, "/sink/1.0.0", &removed));
    CHECK(!removed);
    CHECK_STATUS(lp2p_node_remove_stream_handler(server, NULL, &removed), LP2P_STATUS_NULL_ARGUMENT);
    lp2p_stream *x = NULL;
    CHECK_STATUS(lp2p_node_new_stream(client, server_id, "/sink/1.0.0", &x), LP2P_STATUS_PROTOCOL_NOT_SUPPORTED);
  }

  /* Peer store: a stranger's address, disconnect. */
  OK(lp2p_node_add_peer_addr(client, stranger, "/ip4/127.0.0.1/tcp/1", 60000));
  CHECK_STATUS(lp2p_node_add_peer_addr(client, stranger, "bad", 60000), LP2P_STATUS_INVALID_MULTIADDR);
  CHECK_STATUS(lp2p_node_add_peer_addr(client, NULL, "/ip4/127.0.0.1/tcp/1", 1), LP2P_STATUS_NULL_ARGUMENT);

  /* Node free with a stream open: its callbacks end with SHUTDOWN. */
  lp2p_stream *open_at_free = open_stream(client, server_id, "/echo/1.0.0");
  collector got_at_free = {0};
  OK(lp2p_stream_start_reading(open_at_free, collect_data, collect_end, &got_at_free, collect_finalize));

  OK(lp2p_node_disconnect(client, server_id));
  CHECK_STATUS(lp2p_node_disconnect(client, NULL), LP2P_STATUS_NULL_ARGUMENT);

  OK(lp2p_node_set_event_callback(server, NULL, NULL, NULL)); /* removes it */
  CHECK(server_events.finalized == 1);

  lp2p_node_free(client);
  CHECK(client_events.finalized == 1);
  CHECK(got_at_free.finalized == 1);
  CHECK(got_at_free.ended == 1);
  fprintf(stderr, "stream at node free ended with %s\n", lp2p_status_name((int)got_at_free.end_status));
  CHECK_STATUS(lp2p_stream_write(open_at_free, (const uint8_t *)"x", 1, NULL, NULL), LP2P_STATUS_SHUTDOWN);
  CHECK_STATUS(lp2p_stream_close_write(open_at_free, NULL, NULL), LP2P_STATUS_SHUTDOWN);
  lp2p_stream_free(open_at_free);
  free(got_at_free.data);

  lp2p_node_free(server);
  CHECK(echo_finalized == 1);
  lp2p_node_free(NULL);

  lp2p_string_list_free(addrs);
  lp2p_string_list_free(NULL);
  lp2p_string_free(stranger);
  lp2p_string_free(server_key_id);
}

/* ---- external addresses, the DHT's mode, AutoNAT ---- */

/* Records the external address events of one node. */
typedef struct {
  volatile int confirmed, expired, finalized;
  char last_confirmed[256];
  char last_expired[256];
} reach_log;

static void on_reach_event(void *ud, const lp2p_event *ev) {
  reach_log *log = ud;
  pthread_mutex_lock(&mu);
  switch (ev->kind) {
    case LP2P_EVENT_KIND_EXTERNAL_ADDR_CONFIRMED:
      snprintf(log->last_confirmed, sizeof log->last_confirmed, "%s", ev->address ? ev->address : "");
      log->confirmed++;
      break;
    case LP2P_EVENT_KIND_EXTERNAL_ADDR_EXPIRED:
      snprintf(log->last_expired, sizeof log->last_expired, "%s", ev->address ? ev->address : "");
      log->expired++;
      break;
    case LP2P_EVENT_KIND_CONNECTION_ESTABLISHED:
    case LP2P_EVENT_KIND_CONNECTION_CLOSED:
    case LP2P_EVENT_KIND_NEW_LISTEN_ADDR:
    case LP2P_EVENT_KIND_EXPIRED_LISTEN_ADDR:
    case LP2P_EVENT_KIND_IDENTIFIED:
    case LP2P_EVENT_KIND_DISCOVERED:
    case LP2P_EVENT_KIND_RESOURCE_LIMIT_EXCEEDED:
      break;
  }
  signal_all();
  pthread_mutex_unlock(&mu);
}

/* ---- resource limits, allowlist, connection manager ---- */

/* Records the resource limit events of one node. */
typedef struct {
  volatile int hits, finalized;
  char scope[64], resource[64];
  uint64_t limit, current;
} limit_log;

static void on_limit_event(void *ud, const lp2p_event *ev) {
  limit_log *log = ud;
  if (ev->kind != LP2P_EVENT_KIND_RESOURCE_LIMIT_EXCEEDED) return;
  pthread_mutex_lock(&mu);
  snprintf(log->scope, sizeof log->scope, "%s", ev->limit_scope ? ev->limit_scope : "");
  snprintf(log->resource, sizeof log->resource, "%s", ev->limit_resource ? ev->limit_resource : "");
  log->limit = ev->limit;
  log->current = ev->limit_current;
  log->hits++;
  signal_all();
  pthread_mutex_unlock(&mu);
}

static void limit_finalize(void *ud) {
  limit_log *log = ud;
  pthread_mutex_lock(&mu);
  log->finalized++;
  pthread_mutex_unlock(&mu);
}

static void test_resources(void) {
  /* Argument checks. */
  lp2p_config *cfg = NULL;
  OK(lp2p_config_new(&cfg));
  CHECK_STATUS(lp2p_config_set_resource_limits(NULL, 1, 1, 1, 1, 1, 1), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_config_set_conn_manager(NULL, 1, 2, 0), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_config_set_conn_manager(cfg, 5, 2, 0), LP2P_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(lp2p_config_allow(NULL, "/ip4/10.0.0.0/ipcidr/8"), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_config_allow(cfg, NULL), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_config_allow(cfg, "not a multiaddr"), LP2P_STATUS_INVALID_MULTIADDR);
  CHECK_STATUS(lp2p_config_allow(cfg, "/dns4/example.com/tcp/1"), LP2P_STATUS_INVALID_ARGUMENT);
  OK(lp2p_config_allow(cfg, "/ip4/10.0.0.0/ipcidr/8"));
  OK(lp2p_config_set_conn_manager(cfg, 2, 4, 0));
  OK(lp2p_config_set_conn_manager(cfg, 0, 0, 0)); /* trimming off */
  /* One outbound connection at most. */
  OK(lp2p_config_set_resource_limits(cfg, 1, 0, 0, 0, 0, 0));
  OK(lp2p_config_set_timeouts(cfg, 5000, 5000, 5000, 5000));
  lp2p_node *client = NULL;
  OK(lp2p_node_start(cfg, &client));
  lp2p_config_free(cfg);
  lp2p_node *a = start_node("c-test-limits-a/1.0", NULL, 1);
  lp2p_node *b = start_node("c-test-limits-b/1.0", NULL, 1);
  if (!client || !a || !b) {
    failed++;
    fprintf(stderr, "FAIL: nodes did not start\n");
    lp2p_node_free(client);
    lp2p_node_free(a);
    lp2p_node_free(b);
    return;
  }
  limit_log log = {0};
  OK(lp2p_node_set_event_callback(client, on_limit_event, &log, limit_finalize));

  /* The first dial fits; the second is over the system limit: a typed status and an event. */
  lp2p_string_list *addrs = NULL;
  char *peer = NULL;
  OK(lp2p_node_listen_addrs(a, &addrs));
  char addr_a[256];
  snprintf(addr_a, sizeof addr_a, "%s", lp2p_string_list_get(addrs, 0)); /* with /p2p/ */
  lp2p_string_list_free(addrs);
  OK(lp2p_node_dial(client, addr_a, &peer));
  lp2p_string_free(peer);
  addrs = NULL;
  OK(lp2p_node_listen_addrs(b, &addrs));
  char addr_b[256];
  snprintf(addr_b, sizeof addr_b, "%s", lp2p_string_list_get(addrs, 0)); /* with /p2p/ */
  lp2p_string_list_free(addrs);
  peer = NULL;
  CHECK_STATUS(lp2p_node_dial(client, addr_b, &peer), LP2P_STATUS_LIMIT_REACHED);
  CHECK(peer == NULL);
  CHECK(wait_for(&log.hits, 1, 5000));
  pthread_mutex_lock(&mu);
  CHECK(strcmp(log.scope, "system") == 0);
  CHECK(strcmp(log.resource, "conns_outbound") == 0);
  CHECK(log.limit == 1 && log.current == 1);
  pthread_mutex_unlock(&mu);

  /* Tags and protections. */
  const char *id_a = lp2p_node_peer_id(a);
  char long_tag[200];
  memset(long_tag, 'x', sizeof long_tag - 1);
  long_tag[sizeof long_tag - 1] = 0;
  bool still = true;
  CHECK_STATUS(lp2p_node_tag_peer(NULL, id_a, "useful", 5), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_tag_peer(client, NULL, "useful", 5), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_tag_peer(client, id_a, NULL, 5), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_tag_peer(client, "not a peer", "useful", 5), LP2P_STATUS_INVALID_PEER_ID);
  CHECK_STATUS(lp2p_node_tag_peer(client, id_a, long_tag, 5), LP2P_STATUS_INVALID_ARGUMENT);
  OK(lp2p_node_tag_peer(client, id_a, "useful", 5));
  OK(lp2p_node_untag_peer(client, id_a, "useful"));
  CHECK_STATUS(lp2p_node_untag_peer(client, id_a, NULL), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_protect_peer(client, id_a, long_tag), LP2P_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(lp2p_node_protect_peer(NULL, id_a, "keep"), LP2P_STATUS_NULL_ARGUMENT);
  OK(lp2p_node_protect_peer(client, id_a, "keep"));
  OK(lp2p_node_protect_peer(client, id_a, "also"));
  OK(lp2p_node_unprotect_peer(client, id_a, "keep", &still));
  CHECK(still);
  OK(lp2p_node_unprotect_peer(client, id_a, "also", &still));
  CHECK(!still);
  OK(lp2p_node_unprotect_peer(client, id_a, "also", NULL));
  CHECK_STATUS(lp2p_node_unprotect_peer(client, "nope", "also", NULL), LP2P_STATUS_INVALID_PEER_ID);

  lp2p_node_free(client);
  CHECK(log.finalized == 1);
  lp2p_node_free(a);
  lp2p_node_free(b);
}

static void reach_finalize(void *ud) {
  reach_log *log = ud;
  pthread_mutex_lock(&mu);
  log->finalized++;
  signal_all();
  pthread_mutex_unlock(&mu);
}

/* Polls lp2p_kad_is_server until it says `want` or timeout; returns whether it did. */
static int wait_is_server(const lp2p_kad *kad, bool want, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 20) {
    bool now = !want;
    if (lp2p_kad_is_server(kad, &now) == LP2P_STATUS_OK && now == want) return 1;
    sleep_ms(20);
  }
  return 0;
}

static void test_external_addrs(void) {
  lp2p_node *node = start_node("c-test-external/1.0", NULL, 1);
  if (!node) {
    failed++;
    fprintf(stderr, "FAIL: node did not start\n");
    return;
  }
  reach_log log = {0};
  OK(lp2p_node_set_event_callback(node, on_reach_event, &log, reach_finalize));

  /* Bad arguments. */
  lp2p_string_list *list = NULL;
  bool flag = false;
  CHECK_STATUS(lp2p_node_external_addrs(NULL, &list), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_external_addrs(node, NULL), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_add_external_addr(NULL, "/ip4/1.2.3.4/tcp/4001", &flag), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_add_external_addr(node, NULL, &flag), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_add_external_addr(node, "not a multiaddr", &flag), LP2P_STATUS_INVALID_MULTIADDR);
  CHECK_STATUS(lp2p_node_remove_external_addr(NULL, "/ip4/1.2.3.4/tcp/4001", &flag), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_remove_external_addr(node, NULL, &flag), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_node_remove_external_addr(node, "/ip4/x", &flag), LP2P_STATUS_INVALID_MULTIADDR);
  CHECK(list == NULL);

  /* None at first. */
  OK(lp2p_node_external_addrs(node, &list));
  CHECK(list && lp2p_string_list_len(list) == 0);
  lp2p_string_list_free(list);

  /* Add: new once, listed, announced by an event; a /p2p/ suffix is dropped. */
  flag = false;
  OK(lp2p_node_add_external_addr(node, "/ip4/203.0.113.7/tcp/4001", &flag));
  CHECK(flag);
  OK(lp2p_node_add_external_addr(node, "/ip4/203.0.113.7/tcp/4001", &flag));
  CHECK(!flag);
  char with_id[256];
  snprintf(with_id, sizeof with_id, "/ip4/203.0.113.8/tcp/4001/p2p/%s", lp2p_node_peer_id(node));
  OK(lp2p_node_add_external_addr(node, with_id, NULL)); /* out_added may be NULL */
  list = NULL;
  OK(lp2p_node_external_addrs(node, &list));
  CHECK(lp2p_string_list_len(list) == 2);
  CHECK(list_contains(list, "/ip4/203.0.113.7/tcp/4001"));
  CHECK(list_contains(list, "/ip4/203.0.113.8/tcp/4001"));
  lp2p_string_list_free(list);
  CHECK(wait_for(&log.confirmed, 2, 5000));
  pthread_mutex_lock(&mu);
  CHECK(strcmp(log.last_confirmed, "/ip4/203.0.113.8/tcp/4001") == 0);
  pthread_mutex_unlock(&mu);

  /* Remove: once, then no longer listed; an event says it expired. */
  flag = false;
  OK(lp2p_node_remove_external_addr(node, "/ip4/203.0.113.7/tcp/4001", &flag));
  CHECK(flag);
  OK(lp2p_node_remove_external_addr(node, "/ip4/203.0.113.7/tcp/4001", &flag));
  CHECK(!flag);
  OK(lp2p_node_remove_external_addr(node, "/ip4/198.51.100.1/tcp/1", NULL));
  list = NULL;
  OK(lp2p_node_external_addrs(node, &list));
  CHECK(lp2p_string_list_len(list) == 1 && list_contains(list, "/ip4/203.0.113.8/tcp/4001"));
  lp2p_string_list_free(list);
  CHECK(wait_for(&log.expired, 1, 5000));
  pthread_mutex_lock(&mu);
  CHECK(strcmp(log.last_expired, "/ip4/203.0.113.7/tcp/4001") == 0);
  pthread_mutex_unlock(&mu);

  lp2p_node_free(node);
  CHECK(log.finalized == 1);
}

static void test_kad_mode(void) {
  lp2p_node *node = start_node("c-test-kad-mode/1.0", NULL, 1);
  if (!node) {
    failed++;
    fprintf(stderr, "FAIL: node did not start\n");
    return;
  }
  lp2p_kad *kad = NULL;
  bool serving = true;
  lp2p_kad_mode mode = LP2P_KAD_MODE_SERVER;
  CHECK_STATUS(lp2p_kad_start(NULL, LP2P_KAD_MODE_AUTO, NULL, &kad), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_kad_start(node, LP2P_KAD_MODE_AUTO, NULL, NULL), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_kad_start(node, 3, NULL, &kad), LP2P_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(lp2p_kad_start(node, -1, NULL, &kad), LP2P_STATUS_INVALID_ARGUMENT);
  CHECK(kad == NULL);
  CHECK_STATUS(lp2p_kad_is_server(NULL, &serving), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_kad_get_mode(NULL, &mode), LP2P_STATUS_NULL_ARGUMENT);

  /* AUTO: a client until the node has a confirmed external address. */
  OK(lp2p_kad_start(node, LP2P_KAD_MODE_AUTO, NULL, &kad));
  if (!kad) {
    lp2p_node_free(node);
    return;
  }
  CHECK_STATUS(lp2p_kad_is_server(kad, NULL), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_kad_get_mode(kad, NULL), LP2P_STATUS_NULL_ARGUMENT);
  OK(lp2p_kad_get_mode(kad, &mode));
  CHECK(mode == LP2P_KAD_MODE_AUTO);
  OK(lp2p_kad_is_server(kad, &serving));
  CHECK(!serving);
  lp2p_string_list *protos = NULL;
  OK(lp2p_node_protocols(node, &protos));
  CHECK(!list_contains(protos, "/ipfs/kad/1.0.0"));
  lp2p_string_list_free(protos);

  OK(lp2p_node_add_external_addr(node, "/ip4/203.0.113.9/tcp/4001", NULL));
  CHECK(wait_is_server(kad, true, 5000));
  protos = NULL;
  OK(lp2p_node_protocols(node, &protos));
  CHECK(list_contains(protos, "/ipfs/kad/1.0.0"));
  lp2p_string_list_free(protos);

  /* And a client again once it has none. */
  OK(lp2p_node_remove_external_addr(node, "/ip4/203.0.113.9/tcp/4001", NULL));
  CHECK(wait_is_server(kad, false, 5000));
  lp2p_kad_free(kad);

  /* Old callers passing false/true keep their meaning. */
  lp2p_node *other = start_node("c-test-kad-mode/1.0", NULL, 1);
  lp2p_kad *server = NULL, *client = NULL;
  OK(lp2p_kad_start(other, true, "/lp2p-test/kad/1.0.0", &server));
  OK(lp2p_kad_get_mode(server, &mode));
  CHECK(mode == LP2P_KAD_MODE_SERVER);
  OK(lp2p_kad_is_server(server, &serving));
  CHECK(serving);
  lp2p_kad_free(server);
  lp2p_node_free(other);
  OK(lp2p_kad_start(node, false, NULL, &client));
  OK(lp2p_kad_get_mode(client, &mode));
  CHECK(mode == LP2P_KAD_MODE_CLIENT);
  OK(lp2p_node_add_external_addr(node, "/ip4/203.0.113.10/tcp/4001", NULL));
  sleep_ms(200);
  OK(lp2p_kad_is_server(client, &serving));
  CHECK(!serving);
  lp2p_kad_free(client);
  lp2p_kad_free(NULL);
  lp2p_node_free(node);
}

/* A loopback node with AutoNAT (private addresses allowed, as loopback needs). */
static lp2p_node *start_autonat_node(bool server, bool client) {
  lp2p_config *cfg = NULL;
  lp2p_node *node = NULL;
  OK(lp2p_config_new(&cfg));
  OK(lp2p_config_add_listen_addr(cfg, "/ip4/127.0.0.1/tcp/0"));
  OK(lp2p_config_set_agent_version(cfg, "c-test-autonat/1.0"));
  OK(lp2p_config_set_timeouts(cfg, 5000, 5000, 5000, 5000));
  OK(lp2p_config_set_autonat(cfg, server, client));
  OK(lp2p_config_set_autonat_allow_private(cfg, true));
  OK(lp2p_config_set_autonat_confirmations(cfg, 3));
  OK(lp2p_config_set_autonat_probe_interval_ms(cfg, 200));
  OK(lp2p_node_start(cfg, &node));
  lp2p_config_free(cfg);
  return node;
}

static void test_autonat(void) {
  /* Bad arguments. */
  lp2p_config *cfg = NULL;
  OK(lp2p_config_new(&cfg));
  CHECK_STATUS(lp2p_config_set_autonat(NULL, true, true), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_config_set_autonat_allow_private(NULL, true), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_config_set_autonat_confirmations(NULL, 3), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_config_set_autonat_confirmations(cfg, 0), LP2P_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(lp2p_config_set_autonat_probe_interval_ms(NULL, 100), LP2P_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(lp2p_config_set_autonat_probe_interval_ms(cfg, 0), LP2P_STATUS_INVALID_ARGUMENT);
  OK(lp2p_config_set_autonat(cfg, false, false)); /* off again */
  lp2p_config_free(cfg);

  /* Three AutoNAT servers confirm a fourth node's listen address. */
  lp2p_node *servers[3] = {NULL, NULL, NULL};
  for (int i = 0; i < 3; i++) servers[i] = start_autonat_node(true, false);
  lp2p_node *node = start_autonat_node(false, true);
  if (!servers[0] || !servers[1] || !servers[2] || !node) {
    failed++;
    fprintf(stderr, "FAIL: AutoNAT nodes did not start\n");
    for (int i = 0; i < 3; i++) lp2p_node_free(servers[i]);
    lp2p_node_free(node);
    return;
  }
  reach_log log = {0};
  OK(lp2p_node_set_event_callback(node, on_reach_event, &log, reach_finalize));
  lp2p_kad *kad = NULL;
  OK(lp2p_kad_start(node, LP2P_KAD_MODE_AUTO, NULL, &kad));
  bool serving = true;
  OK(lp2p_kad_is_server(kad, &serving));
  CHECK(!serving);

  /* Its listen address without /p2p/: what AutoNAT confirms. */
  lp2p_string_list *addrs = NULL;
  OK(lp2p_node_listen_addrs(node, &addrs));
  char expected[256] = "";
  if (addrs && lp2p_string_list_len(addrs) > 0) {
    snprintf(expected, sizeof expected, "%s", lp2p_string_list_get(addrs, 0));
    char *p2p = strstr(expected, "/p2p/");
    if (p2p) *p2p = '\0';
  }
  lp2p_string_list_free(addrs);

  for (int i = 0; i < 3; i++) {
    lp2p_string_list *server_addrs = NULL;
    OK(lp2p_node_listen_addrs(servers[i], &server_addrs));
    if (server_addrs && lp2p_string_list_len(server_addrs) > 0)
      OK(lp2p_node_dial(node, lp2p_string_list_get(server_addrs, 0), NULL));
    lp2p_string_list_free(server_addrs);
  }

  CHECK(wait_for(&log.confirmed, 1, 30000));
  pthread_mutex_lock(&mu);
  CHECK(strcmp(log.last_confirmed, expected) == 0);
  if (strcmp(log.last_confirmed, expected) != 0)
    fprintf(stderr, "confirmed %s, expected %s\n", log.last_confirmed, expected);
  pthread_mutex_unlock(&mu);
  lp2p_string_list *external = NULL;
  OK(lp2p_node_external_addrs(node, &external));
  CHECK(list_contains(external, expected));
  lp2p_string_list_free(external);
  CHECK(wait_is_server(kad, true, 5000));
  printf("AutoNAT confirmed %s; the AUTO DHT serves\n", expected);

  lp2p_kad_free(kad);
  lp2p_node_free(node);
  for (int i = 0; i < 3; i++) lp2p_node_free(servers[i]);
  CHECK(log.finalized == 1);
}

/* ---- logging ---- */

typedef struct {
  volatile int records, started, stopped, finalized;
  int worst_level;
} log_counter;

static void on_log(void *ud, lp2p_log_level level, const char *target, const char *message) {
  log_counter *c = ud;
  pthread_mutex_lock(&mu);
  c->records++;
  if ((int)level > c->worst_level) c->worst_level = (int)level;
  if (target && strcmp(target, "lp2p::ffi") == 0 && strstr(message, "node started")) c->started++;
  if (target && strcmp(target, "lp2p::ffi") == 0 && strstr(message, "node stopped")) c->stopped++;
  pthread_mutex_unlock(&mu);
}

static void log_finalize(void *ud) {
  log_counter *c = ud;
  pthread_mutex_lock(&mu);
  c->finalized++;
  pthread_mutex_unlock(&mu);
}

static void start_and_free_node(void) {
  lp2p_config *cfg = NULL;
  lp2p_node *node = NULL;
  OK(lp2p_config_new(&cfg));
  OK(lp2p_node_start(cfg, &node));
  lp2p_config_free(cfg);
  lp2p_node_free(node);
}

static void test_log(void) {
  log_counter info = {0}, errors = {0};
  OK(lp2p_log_set_callback(LP2P_LOG_LEVEL_INFO, on_log, &info, log_finalize));
  start_and_free_node();
  CHECK(info.started == 1 && info.stopped == 1);
  CHECK(info.worst_level <= LP2P_LOG_LEVEL_INFO); /* the filter holds */
  /* Replacing the callback runs the old finalizer. */
  OK(lp2p_log_set_callback(LP2P_LOG_LEVEL_ERROR, on_log, &errors, log_finalize));
  CHECK(info.finalized == 1);
  start_and_free_node();
  CHECK(errors.started == 0 && errors.worst_level <= LP2P_LOG_LEVEL_ERROR);
  CHECK_STATUS(lp2p_log_set_callback(9, on_log, &errors, NULL), LP2P_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(lp2p_log_set_callback(-1, NULL, NULL, NULL), LP2P_STATUS_INVALID_ARGUMENT);
  OK(lp2p_log_set_callback(LP2P_LOG_LEVEL_OFF, NULL, NULL, NULL)); /* stops logging */
  CHECK(errors.finalized == 1);
  CHECK(info.finalized == 1);
}

/* ---- an event callback that replaces or removes itself ---- */

/* Heap userdata, so ASan reports a use after the finalizer freed it. */
typedef struct {
  lp2p_node *node;
  int remove; /* 1: remove itself; 0: replace itself with on_swapped_in */
  int calls;
  int touched_after_set;
} self_swap;

static volatile int swap_finalized, swap_finalized_during_call, swap_running;
static volatile int swapped_in_calls, swapped_in_finalized;

static void self_swap_finalize(void *ud) {
  pthread_mutex_lock(&mu);
  swap_finalized++;
  if (swap_running) swap_finalized_during_call++;
  signal_all();
  pthread_mutex_unlock(&mu);
  free(ud);
}

static void on_swapped_in(void *ud, const lp2p_event *ev) {
  (void)ud;
  (void)ev;
  pthread_mutex_lock(&mu);
  swapped_in_calls++;
  signal_all();
  pthread_mutex_unlock(&mu);
}

static void on_swapped_in_finalize(void *ud) {
  (void)ud;
  pthread_mutex_lock(&mu);
  swapped_in_finalized++;
  signal_all();
  pthread_mutex_unlock(&mu);
}

static void on_self_swap(void *ud, const lp2p_event *ev) {
  (void)ev;
  self_swap *me = ud;
  pthread_mutex_lock(&mu);
  swap_running = 1;
  pthread_mutex_unlock(&mu);
  me->calls++;
  lp2p_status st = me->remove ? lp2p_node_set_event_callback(me->node, NULL, NULL, NULL)
                              : lp2p_node_set_event_callback(me->node, on_swapped_in, NULL, on_swapped_in_finalize);
  /* The old userdata is still ours until we return: ASan catches a free here. */
  me->touched_after_set = (st == LP2P_STATUS_OK) + me->calls;
  pthread_mutex_lock(&mu);
  swap_running = 0;
  pthread_mutex_unlock(&mu);
}

static void run_self_swap(int remove) {
  swap_finalized = swap_finalized_during_call = swapped_in_calls = swapped_in_finalized = 0;
  lp2p_node *node = start_node("c-test-swap/1.0", NULL, 0);
  if (!node) {
    failed++;
    return;
  }
  self_swap *me = calloc(1, sizeof *me);
  me->node = node;
  me->remove = remove;
  OK(lp2p_node_set_event_callback(node, on_self_swap, me, self_swap_finalize));
  /* Each listen emits a new-listen-address event. */
  OK(lp2p_node_listen(node, "/ip4/127.0.0.1/tcp/0", NULL));
  CHECK(wait_for(&swap_finalized, 1, 5000));
  if (!remove) {
    /* Later events reach the replacement. */
    OK(lp2p_node_listen(node, "/ip4/127.0.0.1/tcp/0", NULL));
    CHECK(wait_for(&swapped_in_calls, 1, 5000));
  }
  lp2p_node_free(node);
  CHECK(swap_finalized == 1);             /* exactly once */
  CHECK(swap_finalized_during_call == 0); /* after the call returned */
  CHECK(swapped_in_finalized == (remove ? 0 : 1));
}

static void test_event_callback_replaces_itself(void) {
  run_self_swap(0);
  run_self_swap(1);
}

int main(void) {
  test_version_and_status();
  test_last_error();
  test_keys();
  test_config();
  test_log();
  test_nodes();
  test_external_addrs();
  test_resources();
  test_kad_mode();
  test_autonat();
  test_event_callback_replaces_itself();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
