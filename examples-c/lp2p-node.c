/*
 * lp2p-node: a libp2p node on the command line, written on include/lp2p.h.
 *
 *   lp2p-node id     [--key FILE] [--json]
 *   lp2p-node listen [--listen MULTIADDR]... [--key FILE] [--seconds N] [--mdns]
 *                    [--dht-server | --dht-auto] [--bootstrap MULTIADDR]...
 *                    [--external-addr MULTIADDR]... [--autonat [--autonat-allow-private]
 *                    [--autonat-probe-interval SECONDS]] [--perf [--perf-max-bytes N]]
 *                    [--max-connections N] [--max-connections-per-ip N]
 *                    [--conn-low N --conn-high N] [--allow MULTIADDR]... [--json]
 *   lp2p-node discover [--listen MULTIADDR]... [--seconds N] [--count K] [--json]
 *   lp2p-node ping   MULTIADDR [--count N] [--json]
 *   lp2p-node echo   MULTIADDR [--bytes N] [--streams K] [--json]
 *   lp2p-node chat   (MULTIADDR | --listen MULTIADDR) [--key FILE]
 *   lp2p-node lookup MULTIADDR [--json]
 *   lp2p-node perf   MULTIADDR [--upload-bytes N] [--download-bytes N] [--json]
 *   lp2p-node transport-interop   (libp2p test-plans' contract; see its --help)
 *
 * Human-readable output by default; with --json one JSON object per line on
 * stdout (messages and logs on stderr). Exit status 0 on success, 1 with a
 * message on stderr on failure.
 */
#define _POSIX_C_SOURCE 200809L
#include "lp2p.h"
#include <ctype.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define AGENT "lp2p-node/" LP2P_VERSION_STRING
#define ECHO_PROTOCOL "/echo/1.0.0"
#define CHAT_PROTOCOL "/chat/1.0.0"
#define MAX_LISTEN 16

static int json;
static lp2p_node *node; /* freed by finish() */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static volatile sig_atomic_t stop;
static int use_mdns; /* --mdns: start nodes with mDNS discovery */
static int use_autonat, autonat_allow_private; /* --autonat, --autonat-allow-private */
static int use_perf;            /* --perf: serve /perf/1.0.0 (off by default, as its spec says) */
static uint64_t perf_max_bytes; /* --perf-max-bytes: 0 is the library's default */
static double autonat_probe_s;                  /* --autonat-probe-interval (0: the default) */
/* Resource limits and the connection manager (listen): 0 keeps a default. */
static uint64_t max_conns, max_conns_per_ip; /* --max-connections, --max-connections-per-ip */
static unsigned conn_low, conn_high;          /* --conn-low, --conn-high */
static const char *allowed[16];               /* --allow MULTIADDR (repeatable) */
static int n_allowed;
static lp2p_kad *kad;  /* the DHT, if started; freed by finish() before the node */
static int dht_join(int mode, const char **boot, int n_boot);

/* ---- output ---- */

static void json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    switch (*p) {
      case '"': fputs("\\\"", out); break;
      case '\\': fputs("\\\\", out); break;
      case '\n': fputs("\\n", out); break;
      case '\r': fputs("\\r", out); break;
      case '\t': fputs("\\t", out); break;
      default:
        if (*p < 0x20) fprintf(out, "\\u%04x", *p);
        else fputc(*p, out);
    }
  }
  fputc('"', out);
}

static void json_list(FILE *out, const lp2p_string_list *list) {
  fputc('[', out);
  for (size_t i = 0; i < lp2p_string_list_len(list); i++) {
    if (i) fputc(',', out);
    json_string(out, lp2p_string_list_get(list, i));
  }
  fputc(']', out);
}

static void finish(void) {
  lp2p_kad_free(kad);
  kad = NULL;
  lp2p_node_free(node); /* no callback runs after this */
  node = NULL;
}

static int fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "lp2p-node: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  finish();
  return 1;
}

static int fail_status(const char *what, lp2p_status st) {
  char msg[512];
  lp2p_last_error_message(msg, sizeof msg, NULL);
  return fail("%s: %s (%s)", what, msg, lp2p_status_name((int)st));
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits on cv until *flag or timeout_s; returns whether *flag. Holds mu. */
static int wait_flag_locked(volatile int *flag, double timeout_s) {
  double deadline = now_s() + timeout_s;
  while (!*flag && !stop) {
    double left = deadline - now_s();
    if (left <= 0) break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double wake = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + (left < 0.2 ? left : 0.2);
    ts.tv_sec = (time_t)wake;
    ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
    pthread_cond_timedwait(&cv, &mu, &ts);
  }
  return *flag;
}

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

/* ---- keys and node ---- */

/* Loads the key in `path`, or creates it (mode 0600) if the file does not exist. */
static lp2p_status load_or_create_key(const char *path, lp2p_keypair **out) {
  FILE *f = fopen(path, "rb");
  if (f) {
    unsigned char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return lp2p_keypair_from_bytes(buf, n, out);
  }
  lp2p_keypair *kp = NULL;
  lp2p_status st = lp2p_keypair_generate_ed25519(&kp);
  if (st != LP2P_STATUS_OK) return st;
  uint8_t *bytes = NULL;
  size_t len = 0;
  st = lp2p_keypair_to_bytes(kp, &bytes, &len);
  if (st != LP2P_STATUS_OK) {
    lp2p_keypair_free(kp);
    return st;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  int ok = fd >= 0 && write(fd, bytes, len) == (ssize_t)len;
  if (fd >= 0) close(fd);
  lp2p_bytes_free(bytes, len);
  if (!ok) {
    fprintf(stderr, "lp2p-node: cannot write %s: %s\n", path, strerror(errno));
    lp2p_keypair_free(kp);
    return LP2P_STATUS_IO;
  }
  *out = kp;
  return LP2P_STATUS_OK;
}

/* The key of `path` (created if missing; a fresh one when `path` is NULL) and
 * its public key bytes (free with lp2p_bytes_free). Returns 0, or 1 after
 * printing why. */
static int key_and_public(const char *path, lp2p_keypair **kp, uint8_t **pub, size_t *pub_len) {
  lp2p_status st = path ? load_or_create_key(path, kp) : lp2p_keypair_generate_ed25519(kp);
  if (st != LP2P_STATUS_OK) return fail_status(path ? path : "key", st);
  st = lp2p_keypair_public_key(*kp, pub, pub_len);
  if (st != LP2P_STATUS_OK) {
    lp2p_keypair_free(*kp);
    *kp = NULL;
    return fail_status("public key", st);
  }
  return 0;
}

/* ---- echo service ---- */

/* One echoed stream. Reading pauses while more than ECHO_PAUSE_BYTES wait
   in the write queue and resumes below ECHO_RESUME_BYTES, so a fast sender
   meets back-pressure through the muxer window instead of overflowing the
   write queue (LP2P_STREAM_MAX_QUEUED_BYTES). pause, resume, write and reset
   call no callback inline, so they are called under e->mu. */
#define ECHO_PAUSE_BYTES (1024 * 1024)
#define ECHO_RESUME_BYTES (256 * 1024)
typedef struct {
  lp2p_stream *s;
  pthread_mutex_t mu;
  size_t queued; /* bytes written, not yet completed */
  int writes;    /* writes not yet completed */
  int paused, ended;
} echo_state;

/* Unlocks e->mu; frees e and its stream once reading ended and every
   write completed (no callback refers to e after that). */
static void echo_unlock_maybe_free(echo_state *e) {
  int done = e->ended && e->writes == 0;
  pthread_mutex_unlock(&e->mu);
  if (!done) return;
  lp2p_stream_free(e->s);
  pthread_mutex_destroy(&e->mu);
  free(e);
}

typedef struct {
  echo_state *e;
  size_t len;
} echo_write;

static void echo_written(void *ud, lp2p_status status) {
  echo_write *w = ud;
  echo_state *e = w->e;
  pthread_mutex_lock(&e->mu);
  e->queued -= w->len;
  e->writes--;
  free(w);
  if (status != LP2P_STATUS_OK) {
    lp2p_stream_reset(e->s);
  } else if (e->paused && e->queued <= ECHO_RESUME_BYTES) {
    e->paused = 0;
    lp2p_stream_resume(e->s);
  }
  echo_unlock_maybe_free(e);
}

static void echo_data(void *ud, const uint8_t *data, size_t len) {
  echo_state *e = ud;
  echo_write *w = malloc(sizeof *w);
  pthread_mutex_lock(&e->mu);
  if (!w) {
    lp2p_stream_reset(e->s);
  } else {
    w->e = e;
    w->len = len;
    if (lp2p_stream_write(e->s, data, len, echo_written, w) == LP2P_STATUS_OK) {
      e->queued += len;
      e->writes++;
      if (!e->paused && e->queued > ECHO_PAUSE_BYTES) {
        e->paused = 1;
        lp2p_stream_pause(e->s);
      }
    } else {
      free(w);
      lp2p_stream_reset(e->s);
    }
  }
  pthread_mutex_unlock(&e->mu);
}

static void echo_end(void *ud, lp2p_status status) {
  echo_state *e = ud;
  pthread_mutex_lock(&e->mu);
  /* Sent once the queued writes are out. */
  if (status == LP2P_STATUS_OK) lp2p_stream_close_write(e->s, NULL, NULL);
  e->ended = 1;
  echo_unlock_maybe_free(e);
}

static void echo_handler(void *ud, lp2p_stream *s) {
  (void)ud;
  echo_state *e = calloc(1, sizeof *e);
  if (!e) {
    lp2p_stream_free(s);
    return;
  }
  e->s = s;
  pthread_mutex_init(&e->mu, NULL);
  if (lp2p_stream_start_reading(s, echo_data, echo_end, e, NULL) != LP2P_STATUS_OK) {
    lp2p_stream_free(s);
    pthread_mutex_destroy(&e->mu);
    free(e);
  }
}

/* ---- chat ---- */

static lp2p_stream *chat_stream;
static volatile int chat_ready, chat_remote_done;
static char chat_line[4096];
static size_t chat_line_len;

static void chat_print_line(void) {
  chat_line[chat_line_len] = 0;
  if (json) {
    printf("{\"event\":\"message\",\"text\":");
    json_string(stdout, chat_line);
    printf("}\n");
  } else {
    printf("%s\n", chat_line);
  }
  fflush(stdout);
  chat_line_len = 0;
}

static void chat_data(void *ud, const uint8_t *data, size_t len) {
  (void)ud;
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < len; i++) {
    if (data[i] == '\n' || chat_line_len == sizeof chat_line - 1) {
      chat_print_line();
      if (data[i] == '\n') continue;
    }
    chat_line[chat_line_len++] = (char)data[i];
  }
  pthread_mutex_unlock(&mu);
}

static void chat_end(void *ud, lp2p_status status) {
  (void)ud;
  pthread_mutex_lock(&mu);
  if (chat_line_len) chat_print_line();
  if (status != LP2P_STATUS_OK) fprintf(stderr, "lp2p-node: chat stream ended: %s\n", lp2p_status_name((int)status));
  chat_remote_done = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

/* Takes the first inbound chat stream; refuses later ones. */
static void chat_handler(void *ud, lp2p_stream *s) {
  (void)ud;
  pthread_mutex_lock(&mu);
  int take = chat_stream == NULL;
  if (take) chat_stream = s;
  pthread_mutex_unlock(&mu);
  if (!take) {
    lp2p_stream_reset(s);
    lp2p_stream_free(s);
    return;
  }
  lp2p_stream_start_reading(s, chat_data, chat_end, NULL, NULL);
  pthread_mutex_lock(&mu);
  chat_ready = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

/* Starts the node with the key in `key_path` (created if missing), or `kp`,
   or a fresh key; `serve` adds the echo and chat handlers. */
static int start_with(const char **listen, int n_listen, const char *key_path, const lp2p_keypair *given, int serve) {
  lp2p_config *cfg = NULL;
  lp2p_keypair *kp = NULL;
  lp2p_status st = lp2p_config_new(&cfg);
  if (st != LP2P_STATUS_OK) return fail_status("config", st);
  for (int i = 0; i < n_listen && st == LP2P_STATUS_OK; i++) st = lp2p_config_add_listen_addr(cfg, listen[i]);
  if (st != LP2P_STATUS_OK) {
    lp2p_config_free(cfg);
    return fail_status("listen address", st);
  }
  if (key_path) {
    st = load_or_create_key(key_path, &kp);
    if (st != LP2P_STATUS_OK) {
      lp2p_config_free(cfg);
      return fail_status(key_path, st);
    }
    lp2p_config_set_keypair(cfg, kp);
    lp2p_keypair_free(kp);
  } else if (given) {
    lp2p_config_set_keypair(cfg, given);
  }
  lp2p_config_set_agent_version(cfg, AGENT);
  if (use_mdns) lp2p_config_set_mdns(cfg, true);
  if (use_autonat) {
    st = lp2p_config_set_autonat(cfg, true, true);
    if (st == LP2P_STATUS_OK && autonat_allow_private) st = lp2p_config_set_autonat_allow_private(cfg, true);
    if (st == LP2P_STATUS_OK && autonat_probe_s > 0)
      st = lp2p_config_set_autonat_probe_interval_ms(cfg, (uint64_t)(autonat_probe_s * 1000.0 + 0.5));
    if (st != LP2P_STATUS_OK) {
      lp2p_config_free(cfg);
      return fail_status("autonat", st);
    }
  }
  if (max_conns || max_conns_per_ip) st = lp2p_config_set_resource_limits(cfg, max_conns, 0, max_conns_per_ip, 0, 0, 0);
  if (st == LP2P_STATUS_OK && (conn_low || conn_high)) st = lp2p_config_set_conn_manager(cfg, conn_low, conn_high, 60000);
  for (int i = 0; i < n_allowed && st == LP2P_STATUS_OK; i++) st = lp2p_config_allow(cfg, allowed[i]);
  if (st != LP2P_STATUS_OK) {
    lp2p_config_free(cfg);
    return fail_status("limits", st);
  }
  if (use_perf) {
    st = lp2p_config_set_perf(cfg, true, perf_max_bytes);
    if (st != LP2P_STATUS_OK) {
      lp2p_config_free(cfg);
      return fail_status("perf", st);
    }
  }
  st = lp2p_node_start(cfg, &node);
  lp2p_config_free(cfg);
  if (st != LP2P_STATUS_OK) return fail_status("start", st);
  if (serve) {
    st = lp2p_node_set_stream_handler(node, ECHO_PROTOCOL, echo_handler, NULL, NULL);
    if (st == LP2P_STATUS_OK) st = lp2p_node_set_stream_handler(node, CHAT_PROTOCOL, chat_handler, NULL, NULL);
    if (st != LP2P_STATUS_OK) return fail_status("handlers", st);
  }
  return 0;
}

static int start(const char **listen, int n_listen, const char *key_path, int serve) {
  return start_with(listen, n_listen, key_path, NULL, serve);
}

/* ---- subcommands ---- */

/* Parses a positive decimal count; returns whether it is one. */
static int parse_count(const char *text, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long n = strtoull(text, &end, 10);
  if (errno || !end || *end || end == text || text[0] == '-' || n == 0) return 0;
  *out = (uint64_t)n;
  return 1;
}

static const char *usage_id = "usage: lp2p-node id [--key FILE] [--json]\n"
                              "Prints the peer ID, public key (base64 protobuf), agent and protocols.\n"
                              "--key FILE  the key file (created if it does not exist)\n";

static void base64(FILE *out, const uint8_t *p, size_t n) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    fputc(t[v >> 18 & 63], out);
    fputc(t[v >> 12 & 63], out);
    fputc(i + 1 < n ? t[v >> 6 & 63] : '=', out);
    fputc(i + 2 < n ? t[v & 63] : '=', out);
  }
}

static int cmd_id(int argc, char **argv) {
  const char *key = NULL;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) return printf("%s", usage_id), 0;
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--key") && i + 1 < argc) key = argv[++i];
    else return fprintf(stderr, "%s", usage_id), 1;
  }
  lp2p_keypair *kp = NULL;
  uint8_t *pub = NULL;
  size_t pub_len = 0;
  if (key_and_public(key, &kp, &pub, &pub_len)) return 1;
  int failed = start_with(NULL, 0, NULL, kp, 1);
  lp2p_keypair_free(kp);
  if (failed) {
    lp2p_bytes_free(pub, pub_len);
    return 1;
  }
  lp2p_string_list *protocols = NULL;
  lp2p_status st = lp2p_node_protocols(node, &protocols);
  if (st != LP2P_STATUS_OK) {
    lp2p_bytes_free(pub, pub_len);
    return fail_status("protocols", st);
  }
  if (json) {
    printf("{\"peer_id\":");
    json_string(stdout, lp2p_node_peer_id(node));
    printf(",\"public_key\":\"");
    base64(stdout, pub, pub_len);
    printf("\",\"agent_version\":");
    json_string(stdout, AGENT);
    printf(",\"protocols\":");
    json_list(stdout, protocols);
    printf("}\n");
  } else {
    printf("peer id:       %s\npublic key:    ", lp2p_node_peer_id(node));
    base64(stdout, pub, pub_len);
    printf("\nagent version: %s\nprotocols:\n", AGENT);
    for (size_t i = 0; i < lp2p_string_list_len(protocols); i++) printf("  %s\n", lp2p_string_list_get(protocols, i));
  }
  lp2p_string_list_free(protocols);
  lp2p_bytes_free(pub, pub_len);
  finish();
  return 0;
}

static const char *usage_listen =
    "usage: lp2p-node listen [--listen MULTIADDR]... [--key FILE] [--seconds N] [--mdns]\n"
    "                        [--dht-server | --dht-auto] [--bootstrap MULTIADDR]...\n"
    "                        [--external-addr MULTIADDR]... [--autonat [--autonat-allow-private]\n"
    "                        [--autonat-probe-interval SECONDS]] [--perf [--perf-max-bytes N]]\n"
    "                        [--max-connections N] [--max-connections-per-ip N]\n"
    "                        [--conn-low N --conn-high N] [--allow MULTIADDR]... [--json]\n"
    "Serves ping, identify, /echo/1.0.0 and /chat/1.0.0 (and /perf/1.0.0 with --perf) until\n"
    "SIGINT/SIGTERM or N seconds.\n"
    "--listen MULTIADDR  address to listen on (repeatable; default /ip4/127.0.0.1/tcp/0)\n"
    "--key FILE          the key file (created if it does not exist)\n"
    "--mdns              announce this node and find others by mDNS (prints \"discovered\" lines)\n"
    "--dht-server        serve the Kademlia DHT (/ipfs/kad/1.0.0) for `lp2p-node dht` and other peers\n"
    "--dht-auto          run the DHT in automatic mode: a server while this node has a confirmed\n"
    "                    external address, a client otherwise\n"
    "--bootstrap MULTIADDR  join the DHT through this peer (repeatable; implies the DHT, client mode\n"
    "                    unless --dht-server or --dht-auto)\n"
    "--external-addr MULTIADDR  declare an address others reach this node on (repeatable; e.g. a\n"
    "                    forwarded port): announced to peers, and it makes --dht-auto serve\n"
    "--autonat           AutoNAT v2: dial back other peers' addresses, and have connected AutoNAT\n"
    "                    servers dial ours; an address 3 servers reach is confirmed as external\n"
    "--autonat-allow-private  let AutoNAT dial and probe loopback and private addresses (tests, LANs)\n"
    "--autonat-probe-interval SECONDS  time between probing rounds until each address has a verdict\n"
    "                    (default 15; the first round comes this long after start)\n"
    "--max-connections N  connections in total, set up or being set up (default: scaled from memory)\n"
    "--max-connections-per-ip N  connections from one IPv4 address / IPv6 /56 (default 8; loopback\n"
    "                    is exempt)\n"
    "--conn-low N --conn-high N  connection manager watermarks: above N high connections, the least\n"
    "                    valuable are closed down to low (default 160 / 192; 1 minute of grace)\n"
    "--allow MULTIADDR   allowlist a network (/ip4/10.0.0.0/ipcidr/8[/p2p/ID]; repeatable): its\n"
    "                    connections skip the connection limits\n"
    "--perf              serve /perf/1.0.0 (off by default: a client makes the server send what it\n"
    "                    asks for; not for publicly reachable nodes). At exit prints a \"perf_served\"\n"
    "                    line: exchanges served and failed, bytes received and sent\n"
    "--perf-max-bytes N  the most bytes one perf request may download or upload (default 16 GiB;\n"
    "                    a larger request is refused)\n"
    "Prints \"external_addr_confirmed\" / \"external_addr_expired\" lines as the node's external\n"
    "addresses change, and \"resource_limit_exceeded\" lines when a limit refuses a connection or\n"
    "stream.\n";

/* Peers found by mDNS so far (distinct, up to 64 remembered). */
static char discovered_peers[64][128];
static int n_discovered;

/* Prints one discovery event: each address ending in /p2p/<id>. */
static void print_discovered(const lp2p_event *ev) {
  pthread_mutex_lock(&mu);
  int seen = 0;
  for (int i = 0; i < n_discovered; i++) seen |= !strcmp(discovered_peers[i], ev->peer_id);
  if (!seen && n_discovered < 64) snprintf(discovered_peers[n_discovered++], sizeof discovered_peers[0], "%s", ev->peer_id);
  size_t n = lp2p_string_list_len(ev->listen_addrs);
  if (json) {
    printf("{\"event\":\"discovered\",\"peer_id\":");
    json_string(stdout, ev->peer_id);
    printf(",\"addrs\":");
    json_list(stdout, ev->listen_addrs);
    printf("}\n");
  } else {
    for (size_t i = 0; i < n; i++) printf("discovered %s/p2p/%s\n", lp2p_string_list_get(ev->listen_addrs, i), ev->peer_id);
  }
  fflush(stdout);
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static void on_listen_event(void *ud, const lp2p_event *ev) {
  (void)ud;
  if (ev->kind == LP2P_EVENT_KIND_DISCOVERED) {
    print_discovered(ev);
    return;
  }
  if (ev->kind == LP2P_EVENT_KIND_EXTERNAL_ADDR_CONFIRMED || ev->kind == LP2P_EVENT_KIND_EXTERNAL_ADDR_EXPIRED) {
    int confirmed = ev->kind == LP2P_EVENT_KIND_EXTERNAL_ADDR_CONFIRMED;
    pthread_mutex_lock(&mu);
    if (json) {
      printf("{\"event\":\"%s\",\"address\":", confirmed ? "external_addr_confirmed" : "external_addr_expired");
      json_string(stdout, ev->address);
      printf("}\n");
    } else {
      printf("%s %s\n", confirmed ? "external_addr_confirmed" : "external_addr_expired", ev->address);
    }
    fflush(stdout);
    pthread_mutex_unlock(&mu);
    return;
  }
  if (ev->kind == LP2P_EVENT_KIND_RESOURCE_LIMIT_EXCEEDED) {
    pthread_mutex_lock(&mu);
    if (json) {
      printf("{\"event\":\"resource_limit_exceeded\",\"scope\":");
      json_string(stdout, ev->limit_scope);
      printf(",\"resource\":");
      json_string(stdout, ev->limit_resource);
      printf(",\"limit\":%llu,\"current\":%llu}\n", (unsigned long long)ev->limit,
             (unsigned long long)ev->limit_current);
    } else {
      printf("resource_limit_exceeded %s %s limit %llu current %llu\n", ev->limit_scope, ev->limit_resource,
             (unsigned long long)ev->limit, (unsigned long long)ev->limit_current);
    }
    fflush(stdout);
    pthread_mutex_unlock(&mu);
    return;
  }
  const char *name = NULL;
  if (ev->kind == LP2P_EVENT_KIND_CONNECTION_ESTABLISHED) name = "connection_opened";
  if (ev->kind == LP2P_EVENT_KIND_CONNECTION_CLOSED) name = "connection_closed";
  if (!name) return;
  pthread_mutex_lock(&mu);
  if (json) {
    printf("{\"event\":\"%s\",\"peer_id\":", name);
    json_string(stdout, ev->peer_id);
    printf(",\"address\":");
    json_string(stdout, ev->address);
    if (ev->kind == LP2P_EVENT_KIND_CONNECTION_ESTABLISHED) printf(",\"outbound\":%s", ev->outbound ? "true" : "false");
    printf("}\n");
  } else {
    printf("%s %s %s\n", ev->kind == LP2P_EVENT_KIND_CONNECTION_ESTABLISHED ? "connected:   " : "disconnected:",
           ev->peer_id, ev->address);
  }
  fflush(stdout);
  pthread_mutex_unlock(&mu);
}

static int parse_bytes(const char *text, uint64_t *out);

/* The perf server's counters, as counted on this side. */
static int print_perf_served(void) {
  lp2p_perf_server_stats stats;
  lp2p_status st = lp2p_node_perf_server_stats(node, &stats);
  if (st != LP2P_STATUS_OK) return fail_status("perf stats", st);
  pthread_mutex_lock(&mu);
  if (json)
    printf("{\"event\":\"perf_served\",\"served\":%llu,\"failed\":%llu,\"bytes_received\":%llu,\"bytes_sent\":%llu}\n",
           (unsigned long long)stats.served, (unsigned long long)stats.failed,
           (unsigned long long)stats.bytes_received, (unsigned long long)stats.bytes_sent);
  else
    printf("perf served %llu exchanges (%llu failed): %llu bytes received, %llu bytes sent\n",
           (unsigned long long)stats.served, (unsigned long long)stats.failed,
           (unsigned long long)stats.bytes_received, (unsigned long long)stats.bytes_sent);
  fflush(stdout);
  pthread_mutex_unlock(&mu);
  return 0;
}

static int cmd_listen(int argc, char **argv) {
  const char *boot[MAX_LISTEN];
  int n_boot = 0, dht_mode = -1;
  const char *external[MAX_LISTEN];
  int n_external = 0;
  const char *listen[MAX_LISTEN];
  int n_listen = 0;
  const char *key = NULL;
  double seconds = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) return printf("%s", usage_listen), 0;
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--listen") && i + 1 < argc && n_listen < MAX_LISTEN) listen[n_listen++] = argv[++i];
    else if (!strcmp(argv[i], "--key") && i + 1 < argc) key = argv[++i];
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--mdns")) use_mdns = 1;
    else if (!strcmp(argv[i], "--dht-server") && dht_mode != LP2P_KAD_MODE_AUTO) dht_mode = LP2P_KAD_MODE_SERVER;
    else if (!strcmp(argv[i], "--dht-auto") && dht_mode != LP2P_KAD_MODE_SERVER) dht_mode = LP2P_KAD_MODE_AUTO;
    else if (!strcmp(argv[i], "--external-addr") && i + 1 < argc && n_external < MAX_LISTEN)
      external[n_external++] = argv[++i];
    else if (!strcmp(argv[i], "--autonat")) use_autonat = 1;
    else if (!strcmp(argv[i], "--autonat-allow-private")) autonat_allow_private = 1;
    else if (!strcmp(argv[i], "--autonat-probe-interval") && i + 1 < argc) {
      autonat_probe_s = atof(argv[++i]);
      if (autonat_probe_s <= 0) return fprintf(stderr, "%s", usage_listen), 1;
    }
    else if (!strcmp(argv[i], "--bootstrap") && i + 1 < argc && n_boot < MAX_LISTEN) boot[n_boot++] = argv[++i];
    else if (!strcmp(argv[i], "--max-connections") && i + 1 < argc) {
      if (!parse_count(argv[++i], &max_conns)) return fprintf(stderr, "%s", usage_listen), 1;
    } else if (!strcmp(argv[i], "--max-connections-per-ip") && i + 1 < argc) {
      if (!parse_count(argv[++i], &max_conns_per_ip)) return fprintf(stderr, "%s", usage_listen), 1;
    } else if (!strcmp(argv[i], "--conn-low") && i + 1 < argc) {
      uint64_t n = 0;
      if (!parse_count(argv[++i], &n) || n > 1000000) return fprintf(stderr, "%s", usage_listen), 1;
      conn_low = (unsigned)n;
    } else if (!strcmp(argv[i], "--conn-high") && i + 1 < argc) {
      uint64_t n = 0;
      if (!parse_count(argv[++i], &n) || n > 1000000) return fprintf(stderr, "%s", usage_listen), 1;
      conn_high = (unsigned)n;
    } else if (!strcmp(argv[i], "--allow") && i + 1 < argc && n_allowed < 16) allowed[n_allowed++] = argv[++i];
    else if (!strcmp(argv[i], "--perf")) use_perf = 1;
    else if (!strcmp(argv[i], "--perf-max-bytes") && i + 1 < argc) {
      if (parse_bytes(argv[++i], &perf_max_bytes) || perf_max_bytes == 0) return fprintf(stderr, "%s", usage_listen), 1;
    }
    else return fprintf(stderr, "%s", usage_listen), 1;
  }
  if ((conn_low || conn_high) && (!conn_high || conn_low > conn_high))
    return fprintf(stderr, "lp2p-node: --conn-low and --conn-high go together, low <= high\n"), 1;
  if ((autonat_allow_private || autonat_probe_s > 0) && !use_autonat)
    return fprintf(stderr, "lp2p-node: --autonat-allow-private and --autonat-probe-interval need --autonat\n"), 1;
  if (perf_max_bytes && !use_perf) return fprintf(stderr, "lp2p-node: --perf-max-bytes needs --perf\n"), 1;
  if (n_listen == 0) listen[n_listen++] = "/ip4/127.0.0.1/tcp/0";
  if (start(listen, n_listen, key, 1)) return 1;
  lp2p_status st = lp2p_node_set_event_callback(node, on_listen_event, NULL, NULL);
  if (st != LP2P_STATUS_OK) return fail_status("events", st);
  if (dht_mode < 0 && n_boot > 0) dht_mode = LP2P_KAD_MODE_CLIENT;
  if (dht_mode >= 0 && dht_join(dht_mode, boot, n_boot)) return 1;
  lp2p_string_list *addrs = NULL;
  st = lp2p_node_listen_addrs(node, &addrs);
  if (st != LP2P_STATUS_OK) return fail_status("listen addresses", st);
  pthread_mutex_lock(&mu);
  if (json) {
    printf("{\"event\":\"listening\",\"peer_id\":");
    json_string(stdout, lp2p_node_peer_id(node));
    printf(",\"addrs\":");
    json_list(stdout, addrs);
    printf("}\n");
  } else {
    printf("peer id: %s\n", lp2p_node_peer_id(node));
    for (size_t i = 0; i < lp2p_string_list_len(addrs); i++) printf("listening on %s\n", lp2p_string_list_get(addrs, i));
  }
  fflush(stdout);
  pthread_mutex_unlock(&mu);
  lp2p_string_list_free(addrs);
  /* After the "listening" line: each prints an "external_addr_confirmed" line. */
  for (int i = 0; i < n_external; i++) {
    st = lp2p_node_add_external_addr(node, external[i], NULL);
    if (st != LP2P_STATUS_OK) return fail_status(external[i], st);
  }
  double end = now_s() + seconds;
  struct timespec tick = {0, 50 * 1000 * 1000};
  while (!stop && (seconds <= 0 || now_s() < end)) nanosleep(&tick, NULL);
  if (use_perf && print_perf_served()) return 1;
  finish();
  return 0;
}

static const char *usage_discover =
    "usage: lp2p-node discover [--listen MULTIADDR]... [--seconds N] [--count K] [--json]\n"
    "Finds peers on the local network by mDNS and prints their addresses (\"discovered ADDR/p2p/ID\").\n"
    "Stops after K distinct peers (default 1), or fails after N seconds (default 10).\n"
    "--listen MULTIADDR  address to listen on (repeatable; default /ip4/127.0.0.1/tcp/0): mDNS\n"
    "                    runs on the IPv4 interfaces of these addresses\n";

static void on_discover_event(void *ud, const lp2p_event *ev) {
  (void)ud;
  if (ev->kind == LP2P_EVENT_KIND_DISCOVERED) print_discovered(ev);
}

static int cmd_discover(int argc, char **argv) {
  const char *listen[MAX_LISTEN];
  int n_listen = 0;
  double seconds = 10;
  int count = 1;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) return printf("%s", usage_discover), 0;
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--listen") && i + 1 < argc && n_listen < MAX_LISTEN) listen[n_listen++] = argv[++i];
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--count") && i + 1 < argc) count = atoi(argv[++i]);
    else return fprintf(stderr, "%s", usage_discover), 1;
  }
  if (!(seconds > 0) || count < 1 || count > 64) return fail("--seconds must be positive and --count 1 to 64");
  if (n_listen == 0) listen[n_listen++] = "/ip4/127.0.0.1/tcp/0";
  use_mdns = 1;
  if (start(listen, n_listen, NULL, 0)) return 1;
  lp2p_status st = lp2p_node_set_event_callback(node, on_discover_event, NULL, NULL);
  if (st != LP2P_STATUS_OK) return fail_status("events", st);
  double end = now_s() + seconds;
  struct timespec tick = {0, 50 * 1000 * 1000};
  int found = 0;
  while (!stop && now_s() < end) {
    pthread_mutex_lock(&mu);
    found = n_discovered;
    pthread_mutex_unlock(&mu);
    if (found >= count) break;
    nanosleep(&tick, NULL);
  }
  finish();
  if (found < count) return fail("found %d of %d peers by mDNS in %g s", found, count, seconds);
  return 0;
}

static const char *usage_ping = "usage: lp2p-node ping MULTIADDR [--count N] [--json]\n"
                                "Dials MULTIADDR and pings it N times (default 3).\n";

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int cmd_ping(int argc, char **argv) {
  const char *addr = NULL;
  int count = 3;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) return printf("%s", usage_ping), 0;
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--count") && i + 1 < argc) count = atoi(argv[++i]);
    else if (argv[i][0] != '-' && !addr) addr = argv[i];
    else return fprintf(stderr, "%s", usage_ping), 1;
  }
  if (!addr || count < 1) return fprintf(stderr, "%s", usage_ping), 1;
  if (start(NULL, 0, NULL, 0)) return 1;
  char *peer = NULL;
  lp2p_status st = lp2p_node_dial(node, addr, &peer);
  if (st != LP2P_STATUS_OK) return fail_status("dial", st);
  double *rtts = calloc((size_t)count, sizeof *rtts);
  int received = 0;
  for (int i = 0; i < count && !stop; i++) {
    uint64_t us = 0;
    st = lp2p_node_ping(node, peer, &us);
    if (st != LP2P_STATUS_OK) {
      char msg[512];
      lp2p_last_error_message(msg, sizeof msg, NULL);
      fprintf(stderr, "lp2p-node: ping %d failed: %s (%s)\n", i + 1, msg, lp2p_status_name((int)st));
      continue;
    }
    double ms = (double)us / 1000.0;
    rtts[received++] = ms;
    if (json) printf("{\"event\":\"ping\",\"rtt_ms\":%.3f}\n", ms);
    else printf("ping %s: %.3f ms\n", peer, ms);
    fflush(stdout);
  }
  qsort(rtts, (size_t)received, sizeof *rtts, cmp_double);
  double min = received ? rtts[0] : 0, max = received ? rtts[received - 1] : 0;
  double median = !received ? 0 : received % 2 ? rtts[received / 2] : (rtts[received / 2 - 1] + rtts[received / 2]) / 2;
  if (json)
    printf("{\"event\":\"summary\",\"sent\":%d,\"received\":%d,\"min_ms\":%.3f,\"median_ms\":%.3f,\"max_ms\":%.3f}\n",
           count, received, min, median, max);
  else
    printf("%d sent, %d received, min %.3f ms, median %.3f ms, max %.3f ms\n", count, received, min, median, max);
  free(rtts);
  lp2p_string_free(peer);
  if (received < count) return fail("%d of %d pings failed", count - received, count);
  finish();
  return 0;
}

static const char *usage_echo =
    "usage: lp2p-node echo MULTIADDR [--bytes N] [--streams K] [--json]\n"
    "Sends N random bytes (default 65536) on each of K (default 1) /echo/1.0.0 streams at once\n"
    "and checks that they come back equal.\n";

typedef struct {
  lp2p_stream *stream;
  unsigned char *sent, *got;
  size_t n, got_len;
  volatile int ended, inflight;
  lp2p_status end_status, write_status;
} echo_job;

static void job_data(void *ud, const uint8_t *data, size_t len) {
  echo_job *j = ud;
  pthread_mutex_lock(&mu);
  size_t room = j->n - j->got_len;
  size_t take = len < room ? len : room;
  memcpy(j->got + j->got_len, data, take);
  j->got_len += take;
  if (len > take) j->end_status = LP2P_STATUS_PROTOCOL_ERROR; /* more than we sent */
  pthread_mutex_unlock(&mu);
}

static void job_end(void *ud, lp2p_status status) {
  echo_job *j = ud;
  pthread_mutex_lock(&mu);
  if (j->end_status == LP2P_STATUS_OK) j->end_status = status;
  j->ended = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static void job_written(void *ud, lp2p_status status) {
  echo_job *j = ud;
  pthread_mutex_lock(&mu);
  j->inflight--;
  if (status != LP2P_STATUS_OK) j->write_status = status;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static int cmd_echo(int argc, char **argv) {
  const char *addr = NULL;
  long long bytes = 65536;
  int streams = 1;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) return printf("%s", usage_echo), 0;
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--bytes") && i + 1 < argc) bytes = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--streams") && i + 1 < argc) streams = atoi(argv[++i]);
    else if (argv[i][0] != '-' && !addr) addr = argv[i];
    else return fprintf(stderr, "%s", usage_echo), 1;
  }
  if (!addr || bytes < 0 || streams < 1 || streams > 1024) return fprintf(stderr, "%s", usage_echo), 1;
  if (start(NULL, 0, NULL, 0)) return 1;
  char *peer = NULL;
  lp2p_status st = lp2p_node_dial(node, addr, &peer);
  if (st != LP2P_STATUS_OK) return fail_status("dial", st);
  echo_job *jobs = calloc((size_t)streams, sizeof *jobs);
  srand((unsigned)time(NULL));
  int rc = 0;
  double t0 = now_s();
  for (int k = 0; k < streams && !rc; k++) {
    echo_job *j = &jobs[k];
    j->n = (size_t)bytes;
    j->sent = malloc(j->n + 1);
    j->got = malloc(j->n + 1);
    for (size_t i = 0; i < j->n; i++) j->sent[i] = (unsigned char)(rand() >> 7);
    st = lp2p_node_new_stream(node, peer, ECHO_PROTOCOL, &j->stream);
    if (st == LP2P_STATUS_OK) st = lp2p_stream_start_reading(j->stream, job_data, job_end, j, NULL);
    if (st != LP2P_STATUS_OK) rc = fail_status("stream", st);
  }
  /* Write every stream in 64 KiB chunks, round robin, waiting when queues are full. */
  size_t chunk = 65536;
  size_t *offset = calloc((size_t)streams, sizeof *offset);
  for (int busy = 1; busy && !rc && !stop;) {
    busy = 0;
    int blocked = 0;
    for (int k = 0; k < streams && !rc; k++) {
      echo_job *j = &jobs[k];
      if (offset[k] >= j->n) continue;
      busy = 1;
      size_t len = j->n - offset[k] < chunk ? j->n - offset[k] : chunk;
      pthread_mutex_lock(&mu);
      j->inflight++;
      pthread_mutex_unlock(&mu);
      st = lp2p_stream_write(j->stream, j->sent + offset[k], len, job_written, j);
      if (st == LP2P_STATUS_OK) {
        offset[k] += len;
        if (offset[k] >= j->n) st = lp2p_stream_close_write(j->stream, NULL, NULL);
        if (st != LP2P_STATUS_OK) rc = fail_status("close", st);
      } else {
        pthread_mutex_lock(&mu);
        j->inflight--;
        pthread_mutex_unlock(&mu);
        if (st == LP2P_STATUS_WOULD_BLOCK) blocked++;
        else rc = fail_status("write", st);
      }
    }
    if (blocked) {
      struct timespec tick = {0, 1000 * 1000};
      nanosleep(&tick, NULL);
    }
  }
  for (int k = 0; k < streams && !rc; k++) {
    if (jobs[k].n == 0 && lp2p_stream_close_write(jobs[k].stream, NULL, NULL) != LP2P_STATUS_OK) rc = 1;
  }
  int ok = !rc;
  pthread_mutex_lock(&mu);
  for (int k = 0; k < streams && ok; k++) {
    echo_job *j = &jobs[k];
    if (!wait_flag_locked(&j->ended, 60) || j->end_status != LP2P_STATUS_OK || j->write_status != LP2P_STATUS_OK ||
        j->got_len != j->n || memcmp(j->got, j->sent, j->n) != 0)
      ok = 0;
  }
  pthread_mutex_unlock(&mu);
  double seconds = now_s() - t0;
  if (!rc) {
    if (json)
      printf("{\"event\":\"echo\",\"bytes\":%lld,\"streams\":%d,\"ok\":%s,\"seconds\":%.6f}\n", bytes, streams,
             ok ? "true" : "false", seconds);
    else
      printf("echo: %lld bytes on %d stream(s) %s in %.3f s\n", bytes, streams, ok ? "came back equal" : "FAILED",
             seconds);
  }
  for (int k = 0; k < streams; k++) {
    lp2p_stream_free(jobs[k].stream);
    free(jobs[k].sent);
    free(jobs[k].got);
  }
  free(jobs);
  free(offset);
  lp2p_string_free(peer);
  if (rc) return rc;
  if (!ok) return fail("echo failed: the data did not come back equal");
  finish();
  return 0;
}

static const char *usage_chat = "usage: lp2p-node chat (MULTIADDR | --listen MULTIADDR) [--key FILE] [--json]\n"
                                "Line chat over a /chat/1.0.0 stream: stdin lines go out, received lines are\n"
                                "printed. End of input closes our side; the chat ends when both sides closed.\n";

static int cmd_chat(int argc, char **argv) {
  const char *addr = NULL, *listen = NULL, *key = NULL;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) return printf("%s", usage_chat), 0;
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--listen") && i + 1 < argc) listen = argv[++i];
    else if (!strcmp(argv[i], "--key") && i + 1 < argc) key = argv[++i];
    else if (argv[i][0] != '-' && !addr) addr = argv[i];
    else return fprintf(stderr, "%s", usage_chat), 1;
  }
  if (!addr == !listen) return fprintf(stderr, "%s", usage_chat), 1;
  if (start(listen ? &listen : NULL, listen ? 1 : 0, key, listen != NULL)) return 1;
  lp2p_status st;
  if (listen) {
    lp2p_string_list *addrs = NULL;
    if ((st = lp2p_node_listen_addrs(node, &addrs)) != LP2P_STATUS_OK) return fail_status("listen addresses", st);
    for (size_t i = 0; i < lp2p_string_list_len(addrs); i++) {
      if (json) {
        printf("{\"event\":\"listening\",\"addr\":");
        json_string(stdout, lp2p_string_list_get(addrs, i));
        printf("}\n");
      } else {
        fprintf(stderr, "listening on %s\n", lp2p_string_list_get(addrs, i));
      }
    }
    fflush(stdout);
    lp2p_string_list_free(addrs);
    pthread_mutex_lock(&mu);
    while (!chat_ready && !stop) wait_flag_locked(&chat_ready, 1);
    pthread_mutex_unlock(&mu);
    if (!chat_ready) {
      finish();
      return 0;
    }
    fprintf(stderr, "peer %s joined\n", lp2p_stream_peer_id(chat_stream));
  } else {
    char *peer = NULL;
    if ((st = lp2p_node_dial(node, addr, &peer)) != LP2P_STATUS_OK) return fail_status("dial", st);
    lp2p_stream *s = NULL;
    st = lp2p_node_new_stream(node, peer, CHAT_PROTOCOL, &s);
    lp2p_string_free(peer);
    if (st != LP2P_STATUS_OK) return fail_status("chat stream", st);
    chat_stream = s;
    if ((st = lp2p_stream_start_reading(s, chat_data, chat_end, NULL, NULL)) != LP2P_STATUS_OK)
      return fail_status("read", st);
  }
  int stdin_open = 1;
  char *line = NULL;
  size_t cap = 0;
  while (!stop) {
    pthread_mutex_lock(&mu);
    int remote_done = chat_remote_done;
    pthread_mutex_unlock(&mu);
    if (remote_done && !stdin_open) break;
    if (!stdin_open) {
      struct timespec tick = {0, 50 * 1000 * 1000};
      nanosleep(&tick, NULL);
      continue;
    }
    struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
      stdin_open = 0;
      lp2p_stream_close_write(chat_stream, NULL, NULL);
      continue;
    }
    st = lp2p_stream_write(chat_stream, (const uint8_t *)line, (size_t)n, NULL, NULL);
    if (st != LP2P_STATUS_OK) {
      free(line);
      return fail_status("send", st);
    }
  }
  free(line);
  lp2p_stream_free(chat_stream);
  chat_stream = NULL;
  finish();
  return 0;
}

static const char *usage_lookup = "usage: lp2p-node lookup MULTIADDR [--json]\n"
                                  "Connects and prints the remote's identify result.\n";

static struct {
  volatile int done;
  char peer[128], agent[256], protocol_version[256], observed[512];
  char protocols[64][256];
  int n_protocols;
  char listen[32][512];
  int n_listen;
  /* The verified signed peer record's addresses; -1 when none was sent. */
  char record[32][512];
  int n_record;
} identified;

/* Copies the verified signed peer record of `peer` from the peer store. */
static void read_peer_record(const char *peer) {
  identified.n_record = -1;
  lp2p_peer_info *info = NULL;
  if (lp2p_node_peer_info(node, peer, &info) != LP2P_STATUS_OK) return;
  const lp2p_string_list *addrs = lp2p_peer_info_peer_record_addrs(info);
  if (addrs) {
    identified.n_record = 0;
    for (size_t i = 0; i < lp2p_string_list_len(addrs) && identified.n_record < 32; i++)
      snprintf(identified.record[identified.n_record++], 512, "%s", lp2p_string_list_get(addrs, i));
  }
  lp2p_peer_info_free(info);
}

static void on_lookup_event(void *ud, const lp2p_event *ev) {
  (void)ud;
  if (ev->kind != LP2P_EVENT_KIND_IDENTIFIED) return;
  pthread_mutex_lock(&mu);
  snprintf(identified.peer, sizeof identified.peer, "%s", ev->peer_id);
  snprintf(identified.agent, sizeof identified.agent, "%s", ev->agent_version ? ev->agent_version : "");
  snprintf(identified.protocol_version, sizeof identified.protocol_version, "%s",
           ev->protocol_version ? ev->protocol_version : "");
  snprintf(identified.observed, sizeof identified.observed, "%s", ev->address ? ev->address : "");
  identified.n_protocols = 0;
  for (size_t i = 0; i < lp2p_string_list_len(ev->protocols) && identified.n_protocols < 64; i++)
    snprintf(identified.protocols[identified.n_protocols++], 256, "%s", lp2p_string_list_get(ev->protocols, i));
  identified.n_listen = 0;
  for (size_t i = 0; i < lp2p_string_list_len(ev->listen_addrs) && identified.n_listen < 32; i++)
    snprintf(identified.listen[identified.n_listen++], 512, "%s", lp2p_string_list_get(ev->listen_addrs, i));
  identified.done = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static int cmd_lookup(int argc, char **argv) {
  const char *addr = NULL;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) return printf("%s", usage_lookup), 0;
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (argv[i][0] != '-' && !addr) addr = argv[i];
    else return fprintf(stderr, "%s", usage_lookup), 1;
  }
  if (!addr) return fprintf(stderr, "%s", usage_lookup), 1;
  if (start(NULL, 0, NULL, 0)) return 1;
  lp2p_status st = lp2p_node_set_event_callback(node, on_lookup_event, NULL, NULL);
  if (st != LP2P_STATUS_OK) return fail_status("events", st);
  char *peer = NULL;
  if ((st = lp2p_node_dial(node, addr, &peer)) != LP2P_STATUS_OK) return fail_status("dial", st);
  pthread_mutex_lock(&mu);
  int got = wait_flag_locked(&identified.done, 10);
  pthread_mutex_unlock(&mu);
  if (!got) {
    lp2p_string_free(peer);
    return fail("%s did not answer identify", addr);
  }
  read_peer_record(peer);
  /* Stop the engine before reading what the callback stored. */
  finish();
  if (json) {
    printf("{\"peer_id\":");
    json_string(stdout, peer);
    printf(",\"protocol_version\":");
    json_string(stdout, identified.protocol_version);
    printf(",\"agent_version\":");
    json_string(stdout, identified.agent);
    printf(",\"observed_addr\":");
    if (identified.observed[0]) json_string(stdout, identified.observed);
    else printf("null");
    printf(",\"listen_addrs\":[");
    for (int i = 0; i < identified.n_listen; i++) {
      if (i) putchar(',');
      json_string(stdout, identified.listen[i]);
    }
    printf("],\"protocols\":[");
    for (int i = 0; i < identified.n_protocols; i++) {
      if (i) putchar(',');
      json_string(stdout, identified.protocols[i]);
    }
    printf("],\"signed_record_addrs\":");
    if (identified.n_record < 0) printf("null");
    for (int i = 0; i < identified.n_record; i++) {
      putchar(i ? ',' : '[');
      json_string(stdout, identified.record[i]);
    }
    if (identified.n_record == 0) putchar('[');
    if (identified.n_record >= 0) putchar(']');
    printf("}\n");
  } else {
    printf("peer id:          %s\nprotocol version: %s\nagent version:    %s\nobserved address: %s\nlisten addresses:\n",
           peer, identified.protocol_version, identified.agent, identified.observed[0] ? identified.observed : "-");
    for (int i = 0; i < identified.n_listen; i++) printf("  %s\n", identified.listen[i]);
    printf("protocols:\n");
    for (int i = 0; i < identified.n_protocols; i++) printf("  %s\n", identified.protocols[i]);
    if (identified.n_record < 0) printf("signed peer record: none\n");
    else printf("signed peer record (verified):\n");
    for (int i = 0; i < identified.n_record; i++) printf("  %s\n", identified.record[i]);
  }
  lp2p_string_free(peer);
  return 0;
}

static const char *usage_perf =
    "usage: lp2p-node perf MULTIADDR [--upload-bytes N] [--download-bytes N] [--json]\n"
    "Runs one /perf/1.0.0 measurement: uploads N bytes, then downloads N bytes (defaults 0 and 0).\n"
    "The peer must serve perf (`lp2p-node listen --perf`; off by default).\n"
    "With --json prints the test-plans result line: "
    "{\"type\":\"final\",\"timeSeconds\":T,\"uploadBytes\":N,\"downloadBytes\":N}\n";

/* Parses a byte count: digits only, so that "-1" or "12x" is a usage error. */
static int parse_bytes(const char *text, uint64_t *out) {
  if (!*text) return -1;
  uint64_t v = 0;
  for (const char *c = text; *c; c++) {
    if (*c < '0' || *c > '9' || v > (UINT64_MAX - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(*c - '0');
  }
  *out = v;
  return 0;
}

static double gbit_s(uint64_t bytes, uint64_t us) { return us ? (double)bytes * 8.0 / ((double)us * 1000.0) : 0.0; }

static int cmd_perf(int argc, char **argv) {
  const char *addr = NULL;
  uint64_t up = 0, down = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) return printf("%s", usage_perf), 0;
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--upload-bytes") && i + 1 < argc) {
      if (parse_bytes(argv[++i], &up)) return fprintf(stderr, "%s", usage_perf), 1;
    } else if (!strcmp(argv[i], "--download-bytes") && i + 1 < argc) {
      if (parse_bytes(argv[++i], &down)) return fprintf(stderr, "%s", usage_perf), 1;
    } else if (argv[i][0] != '-' && !addr) addr = argv[i];
    else return fprintf(stderr, "%s", usage_perf), 1;
  }
  if (!addr) return fprintf(stderr, "%s", usage_perf), 1;
  if (start(NULL, 0, NULL, 0)) return 1;
  double started = now_s();
  char *peer = NULL;
  lp2p_status st = lp2p_node_dial(node, addr, &peer);
  if (st != LP2P_STATUS_OK) return fail_status("dial", st);
  lp2p_perf_result r;
  st = lp2p_node_perf(node, peer, up, down, &r);
  lp2p_string_free(peer);
  if (st != LP2P_STATUS_OK) return fail_status("perf", st);
  double total = now_s() - started;
  if (json)
    printf("{\"type\":\"final\",\"timeSeconds\":%.6f,\"uploadBytes\":%llu,\"downloadBytes\":%llu}\n", total,
           (unsigned long long)r.upload_bytes, (unsigned long long)r.download_bytes);
  else
    printf("upload %llu bytes in %.3f s (%.3f Gbit/s), download %llu bytes in %.3f s (%.3f Gbit/s)\n",
           (unsigned long long)r.upload_bytes, (double)r.upload_us / 1e6, gbit_s(r.upload_bytes, r.upload_us),
           (unsigned long long)r.download_bytes, (double)r.download_us / 1e6,
           gbit_s(r.download_bytes, r.download_us));
  finish();
  return 0;
}

/* ---- transport-interop: the contract of libp2p's test-plans repository ---- */

static const char *usage_interop =
    "usage: lp2p-node transport-interop\n"
    "Speaks the transport-interop contract of libp2p's test-plans repository, configured by\n"
    "environment variables:\n"
    "  transport, security, muxer  tcp, noise, yamux (the one combination lp2p builds today)\n"
    "  is_dialer                   true or false\n"
    "  ip                          the address the listener binds (default 0.0.0.0)\n"
    "  redis_addr                  HOST:PORT of the Redis server (default redis:6379)\n"
    "  test_timeout_seconds        default 180\n"
    "The listener RPUSHes its address to the Redis list listenerAddr and serves until stopped\n"
    "(exit 0) or the timeout (exit 1). The dialer BLPOPs the address, dials, pings, and prints\n"
    "on stdout only {\"handshakePlusOneRTTMillis\":MS,\"pingRTTMilllis\":MS}; logs go to stderr.\n";

static const char *env_or(const char *name, const char *fallback) {
  const char *v = getenv(name);
  return v && *v ? v : fallback;
}

static void set_socket_timeout(int fd, double seconds) {
  struct timeval tv;
  tv.tv_sec = (time_t)seconds;
  tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Connects to HOST:PORT (or [V6]:PORT), retrying until `deadline`: the
   Redis server of a test run may come up after us. Later reads and writes
   on the socket time out after io_timeout_s. Returns the socket or -1. */
static int redis_connect(const char *addr, double deadline, double io_timeout_s) {
  char host[256];
  const char *colon = strrchr(addr, ':');
  if (!colon || colon == addr) return -1;
  size_t n = (size_t)(colon - addr);
  if (addr[0] == '[' && n >= 2 && addr[n - 1] == ']') {
    addr++;
    n -= 2;
  }
  if (n >= sizeof host) return -1;
  memcpy(host, addr, n);
  host[n] = 0;
  for (;;) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) == 0) {
      for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        set_socket_timeout(fd, 2); /* bounds connect() */
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
          freeaddrinfo(res);
          set_socket_timeout(fd, io_timeout_s);
          return fd;
        }
        close(fd);
      }
      freeaddrinfo(res);
    }
    if (stop || now_s() >= deadline) return -1;
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
}

/* Sends one command as a RESP array of bulk strings. */
static int redis_send(int fd, int argc, const char **argv) {
  char buf[2048];
  int off = snprintf(buf, sizeof buf, "*%d\r\n", argc);
  for (int i = 0; i < argc && off > 0 && (size_t)off < sizeof buf; i++)
    off += snprintf(buf + off, sizeof buf - (size_t)off, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
  if (off <= 0 || (size_t)off >= sizeof buf) return -1;
  for (size_t sent = 0; sent < (size_t)off;) {
    ssize_t w = send(fd, buf + sent, (size_t)off - sent, MSG_NOSIGNAL);
    if (w <= 0) return -1;
    sent += (size_t)w;
  }
  return 0;
}

/* Reads one CRLF-terminated line, without the CRLF; -1 on error, timeout or
   a line that does not fit. Byte by byte: replies here are a few lines. */
static int redis_line(int fd, char *buf, size_t size) {
  size_t n = 0;
  for (;;) {
    char c;
    if (recv(fd, &c, 1, 0) != 1) return -1;
    if (c == '\n' && n > 0 && buf[n - 1] == '\r') {
      buf[n - 1] = 0;
      return 0;
    }
    if (n + 1 >= size) return -1;
    buf[n++] = c;
  }
}

/* BLPOP listenerAddr: waits up to timeout_s for the listener's address.
   The reply is *2 then the key and the value as bulk strings; *-1 means
   the wait timed out. */
static int redis_pop_listener_addr(int fd, double timeout_s, char *out, size_t size) {
  char t[32], line[1024];
  snprintf(t, sizeof t, "%d", (int)timeout_s > 0 ? (int)timeout_s : 1);
  const char *cmd[] = {"BLPOP", "listenerAddr", t};
  if (redis_send(fd, 3, cmd) || redis_line(fd, line, sizeof line) || strcmp(line, "*2")) return -1;
  for (int i = 0; i < 2; i++) {
    if (redis_line(fd, line, sizeof line) || line[0] != '$') return -1;
    long len = strtol(line + 1, NULL, 10);
    if (redis_line(fd, line, sizeof line) || len < 0 || strlen(line) != (size_t)len) return -1;
  }
  if (strlen(line) >= size) return -1;
  memcpy(out, line, strlen(line) + 1);
  return 0;
}

static int interop_dial(int fd, double timeout_s) {
  char addr[1024];
  if (redis_pop_listener_addr(fd, timeout_s, addr, sizeof addr))
    return fail("no listener address from Redis (BLPOP listenerAddr) within %.0f s", timeout_s);
  fprintf(stderr, "lp2p-node: dialing %s\n", addr);
  if (start(NULL, 0, NULL, 0)) return 1;
  double handshake_start = now_s();
  char *peer = NULL;
  lp2p_status st = lp2p_node_dial(node, addr, &peer);
  if (st != LP2P_STATUS_OK) return fail_status("dial", st);
  uint64_t ping_us = 0;
  st = lp2p_node_ping(node, peer, &ping_us);
  double total_ms = (now_s() - handshake_start) * 1000.0;
  lp2p_string_free(peer);
  if (st != LP2P_STATUS_OK) return fail_status("ping", st);
  /* "Milllis" with three l's is the contract's spelling. */
  printf("{\"handshakePlusOneRTTMillis\":%.3f,\"pingRTTMilllis\":%.3f}\n", total_ms, (double)ping_us / 1000.0);
  fflush(stdout);
  finish();
  return 0;
}

/* The address to publish: on 0.0.0.0 the node lists every interface; a
   dialer in another container needs one that is not loopback. */
static const char *dialable_addr(const lp2p_string_list *addrs) {
  for (size_t i = 0; i < lp2p_string_list_len(addrs); i++) {
    const char *a = lp2p_string_list_get(addrs, i);
    if (strncmp(a, "/ip4/127.", 9) && strncmp(a, "/ip6/::1/", 9)) return a;
  }
  return lp2p_string_list_len(addrs) ? lp2p_string_list_get(addrs, 0) : NULL;
}

static int interop_listen(int fd, const char *ip, double deadline) {
  char listen_addr[128];
  snprintf(listen_addr, sizeof listen_addr, "/%s/%s/tcp/0", strchr(ip, ':') ? "ip6" : "ip4", ip);
  const char *listen[] = {listen_addr};
  if (start(listen, 1, NULL, 1)) return 1;
  lp2p_string_list *addrs = NULL;
  lp2p_status st = lp2p_node_listen_addrs(node, &addrs);
  if (st != LP2P_STATUS_OK) return fail_status("listen addresses", st);
  const char *addr = dialable_addr(addrs);
  char line[256];
  const char *cmd[] = {"RPUSH", "listenerAddr", addr ? addr : ""};
  int pushed = addr && !redis_send(fd, 3, cmd) && !redis_line(fd, line, sizeof line) && line[0] == ':';
  if (pushed) fprintf(stderr, "lp2p-node: listening on %s\n", addr);
  lp2p_string_list_free(addrs);
  if (!pushed) return fail("could not publish the listen address to Redis (RPUSH listenerAddr)");
  struct timespec tick = {0, 50 * 1000 * 1000};
  while (!stop && now_s() < deadline) nanosleep(&tick, NULL);
  if (!stop) return fail("test_timeout_seconds passed and the listener was not stopped");
  finish();
  return 0;
}

static int cmd_transport_interop(int argc, char **argv) {
  if (argc > 0) {
    if (!strcmp(argv[0], "--help")) return printf("%s", usage_interop), 0;
    return fprintf(stderr, "%s", usage_interop), 1;
  }
  const char *transport = env_or("transport", ""), *security = env_or("security", ""), *muxer = env_or("muxer", "");
  const char *is_dialer = env_or("is_dialer", "");
  const char *ip = env_or("ip", "0.0.0.0");
  const char *redis_addr = env_or("redis_addr", "redis:6379");
  double timeout_s = atof(env_or("test_timeout_seconds", "180"));
  if (!(timeout_s > 0)) return fail("test_timeout_seconds must be a positive number");
  if (strcmp(is_dialer, "true") && strcmp(is_dialer, "false")) return fail("is_dialer must be true or false");
  /* What lp2p does not build yet is refused by name, never faked. */
  if (strcmp(transport, "tcp")) return fail("unsupported transport '%s' (lp2p builds tcp)", transport);
  if (strcmp(security, "noise")) return fail("unsupported security '%s' (lp2p builds noise)", security);
  if (strcmp(muxer, "yamux")) return fail("unsupported muxer '%s' (lp2p builds yamux)", muxer);
  double deadline = now_s() + timeout_s;
  int fd = redis_connect(redis_addr, deadline, timeout_s + 5);
  if (fd < 0) return fail("cannot reach Redis at %s", redis_addr);
  int rc = !strcmp(is_dialer, "true") ? interop_dial(fd, timeout_s) : interop_listen(fd, ip, deadline);
  close(fd);
  return rc;
}

/* ---- the Kademlia DHT (lp2p_kad_*) ---- */

/* Starts the DHT (server or client mode), adds the bootstrap peers and fills
   the routing table. */
/* Starts the DHT in `mode` (an lp2p_kad_mode) and joins it through `boot`. */
static int dht_join(int mode, const char **boot, int n_boot) {
  lp2p_status st = lp2p_kad_start(node, mode, NULL, &kad);
  if (st != LP2P_STATUS_OK) return fail_status("dht", st);
  int joined = 0;
  for (int i = 0; i < n_boot; i++) {
    st = lp2p_kad_add_bootstrap_peer(kad, boot[i]);
    if (st == LP2P_STATUS_OK) joined++;
    else fprintf(stderr, "lp2p-node: bootstrap peer %s: %s\n", boot[i], lp2p_status_name((int)st));
  }
  if (n_boot > 0 && joined == 0) return fail("no bootstrap peer could be reached");
  if (joined > 0) {
    size_t table = 0;
    st = lp2p_kad_bootstrap(kad, &table);
    if (st != LP2P_STATUS_OK) return fail_status("dht bootstrap", st);
  }
  return 0;
}

static void print_hex(FILE *out, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) fprintf(out, "%02x", p[i]);
}

/* KEY or VALUE from the command line: "hex:..." is hex, anything else its bytes.
   Returns the length, or -1 on bad hex or overflow. */
static long dht_bytes(const char *arg, uint8_t *out, size_t cap) {
  if (strncmp(arg, "hex:", 4)) {
    size_t n = strlen(arg);
    if (n > cap) return -1;
    memcpy(out, arg, n);
    return (long)n;
  }
  const char *h = arg + 4;
  size_t n = strlen(h);
  if (n % 2 || n / 2 > cap) return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(h + 2 * i, "%2x", &v) != 1 || !isxdigit((unsigned char)h[2 * i]) || !isxdigit((unsigned char)h[2 * i + 1]))
      return -1;
    out[i] = (uint8_t)v;
  }
  return (long)(n / 2);
}

static const char *usage_dht =
    "usage: lp2p-node dht COMMAND ARGS --bootstrap MULTIADDR [--bootstrap MULTIADDR]... [--listen MULTIADDR]\n"
    "                 [--key FILE] [--json]\n"
    "  put KEY [VALUE]      store a record (only /pk/ and /ipns/ keys validate; KEY /pk/self stores\n"
    "                       this node's public key under its own peer ID, VALUE then defaults to it)\n"
    "  get KEY [--quorum N] print the best record (exit 1 if not found)\n"
    "  provide KEY [--seconds N]  announce this node as a provider, then serve for N seconds\n"
    "  providers KEY [--limit N]  print the providers' peer IDs and addresses\n"
    "  find-peer PEER_ID    print the peer's addresses\n"
    "KEY and VALUE are taken as text, or as hex after a \"hex:\" prefix. The node joins the DHT\n"
    "(/ipfs/kad/1.0.0) in client mode through the bootstrap peers, e.g. `lp2p-node listen --dht-server`.\n";

#define DHT_MAX_BYTES (64 * 1024)

static int cmd_dht(int argc, char **argv) {
  if (argc < 1 || !strcmp(argv[0], "--help")) return printf("%s", usage_dht), argc < 1;
  const char *sub = argv[0];
  const char *pos[2] = {NULL, NULL};
  int n_pos = 0;
  const char *boot[MAX_LISTEN], *listen[MAX_LISTEN];
  int n_boot = 0, n_listen = 0;
  const char *key_path = NULL;
  long quorum = 1, limit = 20;
  double seconds = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) return printf("%s", usage_dht), 0;
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (!strcmp(argv[i], "--bootstrap") && i + 1 < argc && n_boot < MAX_LISTEN) boot[n_boot++] = argv[++i];
    else if (!strcmp(argv[i], "--listen") && i + 1 < argc && n_listen < MAX_LISTEN) listen[n_listen++] = argv[++i];
    else if (!strcmp(argv[i], "--key") && i + 1 < argc) key_path = argv[++i];
    else if (!strcmp(argv[i], "--quorum") && i + 1 < argc) quorum = atol(argv[++i]);
    else if (!strcmp(argv[i], "--limit") && i + 1 < argc) limit = atol(argv[++i]);
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
    else if (argv[i][0] != '-' && n_pos < 2) pos[n_pos++] = argv[i];
    else return fprintf(stderr, "%s", usage_dht), 1;
  }
  int known = !strcmp(sub, "put") || !strcmp(sub, "get") || !strcmp(sub, "provide") || !strcmp(sub, "providers") ||
              !strcmp(sub, "find-peer");
  if (!known || n_pos < 1 || n_boot == 0 || quorum < 1 || limit < 1) return fprintf(stderr, "%s", usage_dht), 1;
  if (n_pos == 2 && strcmp(sub, "put")) return fprintf(stderr, "%s", usage_dht), 1;

  lp2p_keypair *kp = NULL;
  uint8_t *pub = NULL;
  size_t pub_len = 0;
  if (key_and_public(key_path, &kp, &pub, &pub_len)) return 1;
  if (n_listen == 0) listen[n_listen++] = "/ip4/127.0.0.1/tcp/0";
  int failed = start_with(listen, n_listen, NULL, kp, 1);
  lp2p_keypair_free(kp);
  if (!failed) failed = dht_join(LP2P_KAD_MODE_CLIENT, boot, n_boot);
  if (failed) {
    lp2p_bytes_free(pub, pub_len);
    return 1;
  }

  static uint8_t key[DHT_MAX_BYTES], value[DHT_MAX_BYTES];
  long key_len = -1, value_len = -1;
  int self_pk = !strcmp(pos[0], "/pk/self");
  if (self_pk && pub_len <= 42) {
    /* An Ed25519 peer ID is the identity multihash of the protobuf key. */
    memcpy(key, "/pk/", 4);
    key[4] = 0x00;
    key[5] = (uint8_t)pub_len;
    memcpy(key + 6, pub, pub_len);
    key_len = (long)(6 + pub_len);
  } else if (!self_pk) {
    key_len = dht_bytes(pos[0], key, sizeof key);
  }
  if (n_pos == 2) value_len = dht_bytes(pos[1], value, sizeof value);
  else if (self_pk) {
    memcpy(value, pub, pub_len);
    value_len = (long)pub_len;
  }
  lp2p_bytes_free(pub, pub_len);
  if (key_len < 0) return fail("bad KEY (hex: needs an even number of hex digits; at most 64 KiB)");

  int rc = 0;
  lp2p_status st;
  if (!strcmp(sub, "put")) {
    if (value_len < 0) return fail("put needs a VALUE (text, or hex:...)");
    size_t stored = 0;
    st = lp2p_kad_put_value(kad, key, (size_t)key_len, value, (size_t)value_len, &stored);
    if (st != LP2P_STATUS_OK) return fail_status("put", st);
    if (json) printf("{\"event\":\"put\",\"key_hex\":\"");
    else printf("stored key hex:");
    print_hex(stdout, key, (size_t)key_len);
    if (json) printf("\",\"stored\":%zu}\n", stored);
    else printf(" on %zu peers\n", stored);
  } else if (!strcmp(sub, "get")) {
    bool found = false;
    uint8_t *got = NULL;
    size_t got_len = 0;
    st = lp2p_kad_get_value(kad, key, (size_t)key_len, (size_t)quorum, &found, &got, &got_len);
    if (st != LP2P_STATUS_OK) return fail_status("get", st);
    if (json) {
      printf("{\"event\":\"get\",\"found\":%s", found ? "true" : "false");
      if (found) printf(",\"value_hex\":\""), print_hex(stdout, got, got_len), printf("\"");
      printf("}\n");
    } else if (found) {
      printf("value hex:");
      print_hex(stdout, got, got_len);
      printf("\n");
    } else {
      printf("not found\n");
    }
    lp2p_bytes_free(got, got_len);
    rc = found ? 0 : 1;
  } else if (!strcmp(sub, "provide")) {
    size_t told = 0;
    st = lp2p_kad_provide(kad, key, (size_t)key_len, &told);
    if (st != LP2P_STATUS_OK) return fail_status("provide", st);
    if (json) printf("{\"event\":\"provide\",\"peer_id\":\"%s\",\"told\":%zu}\n", lp2p_node_peer_id(node), told);
    else printf("providing as %s, told %zu peers\n", lp2p_node_peer_id(node), told);
    fflush(stdout);
    double end = now_s() + seconds;
    struct timespec tick = {0, 50 * 1000 * 1000};
    while (!stop && now_s() < end) nanosleep(&tick, NULL);
  } else if (!strcmp(sub, "providers")) {
    lp2p_string_list *peers = NULL;
    st = lp2p_kad_providers(kad, key, (size_t)key_len, (size_t)limit, &peers);
    if (st != LP2P_STATUS_OK) return fail_status("providers", st);
    if (json) {
      printf("{\"event\":\"providers\",\"peers\":");
      json_list(stdout, peers);
      printf("}\n");
    } else {
      for (size_t i = 0; i < lp2p_string_list_len(peers); i++) printf("provider %s\n", lp2p_string_list_get(peers, i));
    }
    rc = lp2p_string_list_len(peers) > 0 ? 0 : 1;
    lp2p_string_list_free(peers);
  } else {
    lp2p_string_list *addrs = NULL;
    st = lp2p_kad_find_peer(kad, pos[0], &addrs);
    if (st != LP2P_STATUS_OK) return fail_status("find-peer", st);
    if (json) {
      printf("{\"event\":\"find-peer\",\"peer_id\":");
      json_string(stdout, pos[0]);
      printf(",\"addrs\":");
      json_list(stdout, addrs);
      printf("}\n");
    } else {
      for (size_t i = 0; i < lp2p_string_list_len(addrs); i++) printf("%s/p2p/%s\n", lp2p_string_list_get(addrs, i), pos[0]);
    }
    lp2p_string_list_free(addrs);
  }
  fflush(stdout);
  finish();
  return rc;
}

static const char *usage = "usage: lp2p-node COMMAND [ARGS] (each command takes --help)\n"
                           "  id      print this node's identity\n"
                           "  listen  serve ping, identify, echo and chat\n"
                           "  discover  find peers on the local network by mDNS\n"
                           "  ping    ping a peer\n"
                           "  echo    send bytes through a peer's echo service and check them\n"
                           "  chat    line chat with a peer\n"
                           "  lookup  print a peer's identify result\n"
                           "  perf    measure throughput with a peer (/perf/1.0.0)\n"
                           "  dht     put/get records, provide/find providers, find peers (Kademlia)\n"
                           "  transport-interop  libp2p test-plans' transport-interop test (set by environment)\n";

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    printf("%s", usage);
    return argc < 2 ? 1 : 0;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  const char *cmd = argv[1];
  argc -= 2;
  argv += 2;
  if (!strcmp(cmd, "id")) return cmd_id(argc, argv);
  if (!strcmp(cmd, "listen")) return cmd_listen(argc, argv);
  if (!strcmp(cmd, "discover")) return cmd_discover(argc, argv);
  if (!strcmp(cmd, "ping")) return cmd_ping(argc, argv);
  if (!strcmp(cmd, "echo")) return cmd_echo(argc, argv);
  if (!strcmp(cmd, "chat")) return cmd_chat(argc, argv);
  if (!strcmp(cmd, "lookup")) return cmd_lookup(argc, argv);
  if (!strcmp(cmd, "perf")) return cmd_perf(argc, argv);
  if (!strcmp(cmd, "dht")) return cmd_dht(argc, argv);
  if (!strcmp(cmd, "transport-interop")) return cmd_transport_interop(argc, argv);
  fprintf(stderr, "lp2p-node: unknown command '%s'\n%s", cmd, usage);
  return 1;
}
