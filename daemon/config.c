/* zxvmd flags and configuration file. Every key of the file is a long flag without the
 * dashes; flags given on the command line override the file (docs/zxvmd.md lists them). */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon-internal.h"

#define ZXD_DEFAULT_SOCKET "unix:/run/zxvmd/zxvmd.sock"

static const char default_group[] = "zxvm";

void zxd_config_defaults(struct zxd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->group = default_group;
	cfg->log_level = ZXD_LOG_INFO;
	cfg->max_sessions = 1024;
	cfg->max_message_bytes = 16u << 20;
	cfg->max_vcpu_threads_per_session = 256;
	cfg->max_port_waits_per_session = 64;
	cfg->limits = zxvm_limits_default();
}

static const char usage[] =
	"Usage: zxvmd [OPTION]...\n"
	"Run virtual machines on KVM and serve Fuchsia's Zircon hypervisor calls over gRPC.\n"
	"Runs in the foreground; logs go to stderr with <N> priority prefixes (journald).\n"
	"\n"
	"  --listen ADDR           listen on ADDR (repeatable): unix:/PATH, or HOST:PORT for TLS\n"
	"                          (default " ZXD_DEFAULT_SOCKET ", or the sockets systemd passes)\n"
	"  --tls-cert FILE         server certificate (PEM) for HOST:PORT listeners\n"
	"  --tls-key FILE          its private key (PEM)\n"
	"  --tls-client-ca FILE    CA that client certificates must chain to (required for TLS)\n"
	"  --insecure-loopback     allow plain TCP, only on a loopback HOST:PORT (testing)\n"
	"  --group NAME            unix peers in this group may run guests (default zxvm; root may)\n"
	"  --config FILE           read KEY = VALUE lines (the long options without dashes)\n"
	"  --log-level LEVEL       err, warning, notice, info (default) or debug\n"
	"  --no-seccomp            no system call filter (for debugging with strace or gdb)\n"
	"  --max-sessions N        sessions at once (default 1024)\n"
	"  --max-message-bytes N   largest gRPC message (default 16777216)\n"
	"  --max-handles N         handles per session (default 4096)\n"
	"  --max-guests N          guests per session (default 64)\n"
	"  --max-vcpus-per-guest N (default 63, Zircon's limit)\n"
	"  --max-traps-per-guest N (default 1024)\n"
	"  --max-ports N           ports per session (default 256)\n"
	"  --max-port-packets N    queued user packets per port (default 2048)\n"
	"  --max-vmo-bytes N       largest VMO (default 17179869184)\n"
	"  --max-memory-bytes N    all VMOs of a session (default 68719476736)\n"
	"  --help                  this text\n"
	"  --version               the version\n"
	"\n"
	"Signals: SIGTERM or SIGINT stop accepting, kick every VCPU, answer what is pending and exit\n"
	"0; SIGHUP reads the TLS certificate, key and client CA again (they are also re-read when\n"
	"the files change). See zxvmd(8).\n"
	"\n"
	"Example: zxvmd --listen unix:/tmp/zxvm.sock\n";

enum {
	OPT_LISTEN = 256,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_CA,
	OPT_INSECURE,
	OPT_GROUP,
	OPT_CONFIG,
	OPT_LOG_LEVEL,
	OPT_NO_SECCOMP,
	OPT_MAX_SESSIONS,
	OPT_MAX_MESSAGE,
	OPT_MAX_HANDLES,
	OPT_MAX_GUESTS,
	OPT_MAX_VCPUS,
	OPT_MAX_TRAPS,
	OPT_MAX_PORTS,
	OPT_MAX_PACKETS,
	OPT_MAX_VMO,
	OPT_MAX_MEMORY,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option options[] = {
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
	{"tls-key", required_argument, NULL, OPT_TLS_KEY},
	{"tls-client-ca", required_argument, NULL, OPT_TLS_CA},
	{"insecure-loopback", no_argument, NULL, OPT_INSECURE},
	{"group", required_argument, NULL, OPT_GROUP},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
	{"max-sessions", required_argument, NULL, OPT_MAX_SESSIONS},
	{"max-message-bytes", required_argument, NULL, OPT_MAX_MESSAGE},
	{"max-handles", required_argument, NULL, OPT_MAX_HANDLES},
	{"max-guests", required_argument, NULL, OPT_MAX_GUESTS},
	{"max-vcpus-per-guest", required_argument, NULL, OPT_MAX_VCPUS},
	{"max-traps-per-guest", required_argument, NULL, OPT_MAX_TRAPS},
	{"max-ports", required_argument, NULL, OPT_MAX_PORTS},
	{"max-port-packets", required_argument, NULL, OPT_MAX_PACKETS},
	{"max-vmo-bytes", required_argument, NULL, OPT_MAX_VMO},
	{"max-memory-bytes", required_argument, NULL, OPT_MAX_MEMORY},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

static int parse_u64(const char *key, const char *val, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(val, &end, 0);
	if (errno || end == val || *end || v == 0 || v > max || val[0] == '-') {
		fprintf(stderr, "zxvmd: %s: '%s' is not a number from 1 to %llu\n", key, val,
			(unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_level(const char *val)
{
	static const char *names[] = {"emerg", "alert", "crit", "err",
				      "warning", "notice", "info", "debug"};
	for (int i = 0; i < 8; i++)
		if (strcmp(val, names[i]) == 0)
			return i;
	return -1;
}

static int apply(struct zxd_config *cfg, int opt, const char *key, const char *val);

/* A string setting outlives the line it was read from: keep a copy for the life of the
 * process (the configuration is). */
static const char *keep(const char *val)
{
	const char *copy = strdup(val);
	if (!copy) {
		fputs("zxvmd: out of memory reading the configuration\n", stderr);
		exit(1);
	}
	return copy;
}

/* A setting given again (flag after config file, or twice) replaces the earlier copy. The
 * defaults are literals, never kept copies: the group's is told apart by address. */
static void replace(const char **slot, const char *val)
{
	const char *old = *slot;
	*slot = keep(val);
	if (old && old != default_group)
		free((char *)old);
}

/* KEY = VALUE lines; # comments; blank lines. */
static int read_file(struct zxd_config *cfg, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "zxvmd: --config %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[4096];
	int lineno = 0, rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '#' || *p == 0)
			continue;
		char *eq = strchr(p, '=');
		char *end = p + strlen(p);
		while (end > p && isspace((unsigned char)end[-1]))
			*--end = 0;
		char *key = p, *val = NULL;
		if (eq) {
			*eq = 0;
			val = eq + 1;
			while (isspace((unsigned char)*val))
				val++;
			char *kend = eq;
			while (kend > key && isspace((unsigned char)kend[-1]))
				*--kend = 0;
		}
		const struct option *o = options;
		while (o->name && strcmp(o->name, key) != 0)
			o++;
		if (!o->name || o->val == OPT_CONFIG || o->val == OPT_HELP || o->val == OPT_VERSION ||
		    (o->has_arg && !val)) {
			fprintf(stderr, "zxvmd: %s:%d: unknown or incomplete setting '%s'\n", path,
				lineno, key);
			rc = -1;
			break;
		}
		if (o->val == OPT_INSECURE) {
			cfg->allow_insecure_loopback = !val || strcmp(val, "false") != 0;
			continue;
		}
		if (o->val == OPT_NO_SECCOMP) {
			cfg->no_seccomp = !val || strcmp(val, "false") != 0;
			continue;
		}
		rc = apply(cfg, o->val, key, val);
	}
	fclose(f);
	return rc;
}

static int apply(struct zxd_config *cfg, int opt, const char *key, const char *val)
{
	uint64_t n;
	switch (opt) {
	case OPT_LISTEN:
		if (cfg->nlisten == ZXD_MAX_LISTEN) {
			fprintf(stderr, "zxvmd: at most %d --listen addresses\n", ZXD_MAX_LISTEN);
			return -1;
		}
		cfg->listen[cfg->nlisten++] = keep(val);
		return 0;
	case OPT_TLS_CERT:
		replace(&cfg->tls_cert, val);
		return 0;
	case OPT_TLS_KEY:
		replace(&cfg->tls_key, val);
		return 0;
	case OPT_TLS_CA:
		replace(&cfg->tls_client_ca, val);
		return 0;
	case OPT_INSECURE:
		cfg->allow_insecure_loopback = true;
		return 0;
	case OPT_NO_SECCOMP:
		cfg->no_seccomp = true;
		return 0;
	case OPT_GROUP:
		replace(&cfg->group, val);
		return 0;
	case OPT_CONFIG:
		return read_file(cfg, val);
	case OPT_LOG_LEVEL:
		cfg->log_level = parse_level(val);
		if (cfg->log_level < 0) {
			fprintf(stderr, "zxvmd: --log-level: '%s' is not err, warning, notice, "
					"info or debug\n", val);
			return -1;
		}
		return 0;
	}
	uint64_t max = opt == OPT_MAX_VMO || opt == OPT_MAX_MEMORY ? UINT64_MAX : UINT32_MAX;
	if (opt == OPT_MAX_VCPUS)
		max = 63;
	if (parse_u64(key, val, max, &n) < 0)
		return -1;
	switch (opt) {
	case OPT_MAX_SESSIONS:
		cfg->max_sessions = (uint32_t)n;
		break;
	case OPT_MAX_MESSAGE:
		cfg->max_message_bytes = (uint32_t)n;
		break;
	case OPT_MAX_HANDLES:
		cfg->limits.max_handles = (uint32_t)n;
		break;
	case OPT_MAX_GUESTS:
		cfg->limits.max_guests = (uint32_t)n;
		break;
	case OPT_MAX_VCPUS:
		cfg->limits.max_vcpus_per_guest = (uint32_t)n;
		break;
	case OPT_MAX_TRAPS:
		cfg->limits.max_traps_per_guest = (uint32_t)n;
		break;
	case OPT_MAX_PORTS:
		cfg->limits.max_ports = (uint32_t)n;
		break;
	case OPT_MAX_PACKETS:
		cfg->limits.max_port_packets = (uint32_t)n;
		break;
	case OPT_MAX_VMO:
		cfg->limits.max_vmo_bytes = n;
		break;
	case OPT_MAX_MEMORY:
		cfg->limits.max_memory_bytes = n;
		break;
	}
	return 0;
}

int zxd_config_parse(struct zxd_config *cfg, int argc, char **argv)
{
	int opt;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_HELP:
			fputs(usage, stdout);
			return 1;
		case OPT_VERSION:
			printf("zxvmd %s\n", ZXVM_VERSION);
			return 1;
		case '?':
			fprintf(stderr, "zxvmd: unknown or incomplete option '%s'\n%s", argv[optind - 1],
				"Try 'zxvmd --help'.\n");
			return -1;
		default:
			if (apply(cfg, opt, options[opt - OPT_LISTEN].name, optarg) < 0)
				return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "zxvmd: unexpected argument '%s'\nTry 'zxvmd --help'.\n", argv[optind]);
		return -1;
	}
	return 0;
}
