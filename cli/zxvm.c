/* zxvm: every Zircon hypervisor call from the shell, and `zxvm run IMAGE`.
 *
 * Verbs map one to one onto the calls and use only libzxvm's public API. By default they act
 * in the persistent session "default" of the daemon at $ZXVM_ADDR (else the system socket), so
 * a script can create a guest in one invocation and enter its VCPU in the next. Handles print
 * as plain numbers; --json prints one JSON document per command. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zircon/syscalls.h>
#include <zxvm/zxvm.h>

#include "cli-internal.h"

struct cli cli = {.session = "default", .thread = 1};

static const char *verb_path = "zxvm";

static const char main_help[] =
	"Usage: zxvm [GLOBAL OPTION]... VERB [ARG]...\n"
	"Drive virtual machines through the Zircon hypervisor API of a zxvmd.\n"
	"\n"
	"Verbs (zxvm VERB --help for each):\n"
	"  run IMAGE                       boot a flat or ELF64 image, serial port to stdout\n"
	"  session open|close|list         named persistent sessions\n"
	"  guest create                    zx_guest_create\n"
	"  vmo create|read|write           zx_vmo_create / zx_vmo_read / zx_vmo_write\n"
	"  vmar map|unmap|protect          zx_vmar_map / zx_vmar_unmap / zx_vmar_protect\n"
	"  trap set                        zx_guest_set_trap\n"
	"  port create|wait|queue          zx_port_create / zx_port_wait / zx_port_queue\n"
	"  vcpu create|enter|kick|interrupt|read-state|write-state\n"
	"  handle close|duplicate|replace|info\n"
	"  stats                           daemon-wide sessions, guests, VCPUs, exit counts\n"
	"\n"
	"Global options:\n"
	"  --addr ADDR      daemon address: unix:/PATH or HOST:PORT (TLS); default $ZXVM_ADDR,\n"
	"                   else unix:/run/zxvmd/zxvmd.sock. TLS uses $ZXVM_TLS_CA, $ZXVM_TLS_CERT,\n"
	"                   $ZXVM_TLS_KEY.\n"
	"  --session NAME   persistent session to act in (default: default)\n"
	"  --thread N       client thread id for VCPU calls (default 1; a VCPU is bound to the id\n"
	"                   that created it)\n"
	"  --json           print one JSON document\n"
	"  --help, --version\n"
	"\n"
	"Exit status: 0 success, 1 usage error, 2 cannot connect, 3 a call failed (the message\n"
	"names the ZX status). `zxvm run` exits with the guest's exit code.\n"
	"\n"
	"Example:\n"
	"  read guest vmar < <(zxvm guest create)\n"
	"  vcpu=$(zxvm vcpu create $guest --entry 0x100000)\n";

/* ---- errors and output ---- */

_Noreturn void cli_fail(const char *what, zx_status_t st)
{
	fprintf(stderr, "zxvm: %s: %s\n", what, zx_status_get_string(st));
	zxvm_disconnect();
	exit(EXIT_ZX);
}

void cli_check(zx_status_t st, const char *what)
{
	if (st != ZX_OK)
		cli_fail(what, st);
}

_Noreturn void cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", verb_path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", verb_path);
	exit(EXIT_USAGE);
}

uint64_t cli_u64(const char *what, const char *s)
{
	char *end;
	if (!s || !*s || *s == '-')
		cli_usage_error("%s: expected a number, got '%s'", what, s ? s : "");
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	/* Sizes may carry a binary suffix: 4K, 2M, 1G. */
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (errno || *end)
		cli_usage_error("%s: expected a number, got '%s'", what, s);
	return v;
}

/* The daemon's rule for session names, checked here so a bad name is a usage error rather
 * than a failed connection. */
static bool session_name_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

void cli_connect(bool named_session)
{
	if (named_session && !session_name_ok(cli.session))
		cli_usage_error("session name '%s': use 1 to 64 letters, digits, '.', '_' or '-'",
				cli.session);
	zx_status_t st = zxvm_connect_session(cli.addr, named_session ? cli.session : NULL,
					      &cli.resource);
	if (st != ZX_OK) {
		const char *addr = cli.addr ? cli.addr : getenv("ZXVM_ADDR");
		fprintf(stderr, "zxvm: cannot connect to %s: %s\n",
			addr ? addr : "unix:/run/zxvmd/zxvmd.sock", zx_status_get_string(st));
		exit(EXIT_CONNECT);
	}
	zxvm_set_thread_id(cli.thread);
}

static bool out_first, out_kv;
static int out_count;

void out_begin(void)
{
	out_first = true;
	out_count = 0;
	if (cli.json)
		fputc('{', stdout);
}

void out_kv_mode(bool on)
{
	out_kv = on;
}

static void out_key(const char *key)
{
	if (cli.json)
		printf("%s\"%s\":", out_first ? "" : ",", key);
	else if (out_kv)
		printf("%s ", key);
	else if (!out_first)
		fputc(' ', stdout);
	out_first = false;
	out_count++;
}

static void out_sep(void)
{
	if (!cli.json && out_kv)
		fputc('\n', stdout);
}

void out_u64(const char *key, uint64_t v)
{
	out_key(key);
	printf("%llu", (unsigned long long)v);
	out_sep();
}

void out_hex(const char *key, uint64_t v)
{
	out_key(key);
	printf(cli.json ? "%llu" : "0x%llx", (unsigned long long)v);
	out_sep();
}

void out_str(const char *key, const char *v)
{
	out_key(key);
	if (cli.json) {
		fputc('"', stdout);
		for (const char *p = v; *p; p++) {
			if (*p == '"' || *p == '\\')
				printf("\\%c", *p);
			else if ((unsigned char)*p < 0x20)
				printf("\\u%04x", *p);
			else
				fputc(*p, stdout);
		}
		fputc('"', stdout);
	} else {
		fputs(v, stdout);
	}
	out_sep();
}

void out_end(void)
{
	if (cli.json)
		puts("}");
	else if (!out_kv && out_count)
		fputc('\n', stdout);
	fflush(stdout);
}

static const char *packet_type(uint32_t t)
{
	switch (t) {
	case ZX_PKT_TYPE_USER:
		return "USER";
	case ZX_PKT_TYPE_GUEST_BELL:
		return "GUEST_BELL";
	case ZX_PKT_TYPE_GUEST_MEM:
		return "GUEST_MEM";
	case ZX_PKT_TYPE_GUEST_IO:
		return "GUEST_IO";
	case ZX_PKT_TYPE_GUEST_VCPU:
		return "GUEST_VCPU";
	default:
		return "OTHER";
	}
}

void cli_print_packet(const zx_port_packet_t *p)
{
	out_begin();
	out_kv_mode(true);
	out_str("type", packet_type(p->type));
	out_hex("key", p->key);
	out_u64("status", (uint64_t)(int64_t)p->status);
	switch (p->type) {
	case ZX_PKT_TYPE_GUEST_IO:
		out_hex("port", p->guest_io.port);
		out_u64("access_size", p->guest_io.access_size);
		out_u64("input", p->guest_io.input);
		out_hex("data", p->guest_io.u32);
		break;
	case ZX_PKT_TYPE_GUEST_MEM:
		out_hex("addr", p->guest_mem.addr);
		out_hex("cr3", p->guest_mem.cr3);
		out_hex("rip", p->guest_mem.rip);
		out_u64("instruction_size", p->guest_mem.instruction_size);
		out_u64("default_operand_size", p->guest_mem.default_operand_size);
		break;
	case ZX_PKT_TYPE_GUEST_BELL:
		out_hex("addr", p->guest_bell.addr);
		break;
	case ZX_PKT_TYPE_GUEST_VCPU:
		out_u64("vcpu_type", p->guest_vcpu.type);
		if (p->guest_vcpu.type == ZX_PKT_GUEST_VCPU_STARTUP) {
			out_u64("id", p->guest_vcpu.startup.id);
			out_hex("entry", p->guest_vcpu.startup.entry);
		} else {
			out_hex("mask", p->guest_vcpu.interrupt.mask);
			out_u64("vector", p->guest_vcpu.interrupt.vector);
		}
		break;
	default:
		for (int i = 0; i < 4; i++) {
			char k[8];
			snprintf(k, sizeof(k), "u64_%d", i);
			out_hex(k, p->user.u64[i]);
		}
		break;
	}
	out_end();
}

/* ---- verbs ---- */

struct verb {
	const char *noun, *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

/* Options of a verb: --name VALUE pairs and positionals, parsed by hand so every verb
 * shares the global flags. */
struct args {
	int n;
	char **pos;
	int npos;
};

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], name) != 0)
			continue;
		/* A trailing flag would otherwise be ignored and its default used silently. */
		if (i + 1 >= argc)
			cli_usage_error("%s needs a value", name);
		return argv[i + 1];
	}
	return NULL;
}

/* Positionals: the arguments that are neither --flags nor their values. */
static const char *pos(int argc, char **argv, int k, const char *const *flags_with_value)
{
	int seen = 0;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) == 0) {
			for (const char *const *f = flags_with_value; f && *f; f++)
				if (strcmp(argv[i], *f) == 0) {
					i++;
					break;
				}
			continue;
		}
		if (seen++ == k)
			return argv[i];
	}
	return NULL;
}

static const char *need_pos(int argc, char **argv, int k, const char *const *fv, const char *what)
{
	const char *p = pos(argc, argv, k, fv);
	if (!p)
		cli_usage_error("missing %s", what);
	return p;
}

#define FLAGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static int session_open(int argc, char **argv)
{
	const char *name = pos(argc, argv, 0, NULL);
	if (name)
		cli.session = name;
	cli_connect(true);
	out_begin();
	out_str("session", cli.session);
	out_u64("hypervisor_resource", cli.resource);
	out_end();
	zxvm_disconnect();
	return 0;
}

static int session_close(int argc, char **argv)
{
	const char *name = pos(argc, argv, 0, NULL);
	if (name)
		cli.session = name;
	cli_connect(true);
	cli_check(zxvm_close_session(), "session close");
	zxvm_disconnect();
	return 0;
}

static int guest_create(int argc, char **argv)
{
	uint32_t options = (uint32_t)cli_u64("--options", opt(argc, argv, "--options") ?: "0");
	cli_connect(true);
	zx_handle_t guest, vmar;
	cli_check(zx_guest_create(cli.resource, options, &guest, &vmar), "guest create");
	out_begin();
	out_u64("guest", guest);
	out_u64("vmar", vmar);
	out_end();
	zxvm_disconnect();
	return 0;
}

static int vmo_create(int argc, char **argv)
{
	const char *size = need_pos(argc, argv, 0, FLAGS("--options", "--executable"), "SIZE");
	uint64_t bytes = cli_u64("SIZE", size);
	uint32_t options = (uint32_t)cli_u64("--options", opt(argc, argv, "--options") ?: "0");
	bool executable = opt(argc, argv, "--executable") != NULL;
	cli_connect(true);
	zx_handle_t vmo;
	cli_check(zx_vmo_create(bytes, options, &vmo), "vmo create");
	if (executable)
		cli_check(zx_vmo_replace_as_executable(vmo, ZX_HANDLE_INVALID, &vmo),
			  "vmo replace_as_executable");
	out_begin();
	out_u64("vmo", vmo);
	out_end();
	zxvm_disconnect();
	return 0;
}

static int vmo_write(int argc, char **argv)
{
	const char *const *fv = FLAGS("--offset");
	zx_handle_t vmo = (zx_handle_t)cli_u64("VMO", need_pos(argc, argv, 0, fv, "VMO"));
	const char *file = pos(argc, argv, 1, fv);
	uint64_t offset = cli_u64("--offset", opt(argc, argv, "--offset") ?: "0");
	FILE *f = !file || strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
	if (!f) {
		perror(file);
		return EXIT_USAGE;
	}
	cli_connect(true);
	char buf[1 << 16];
	size_t n, total = 0;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		cli_check(zx_vmo_write(vmo, buf, offset + total, n), "vmo write");
		total += n;
	}
	if (f != stdin)
		fclose(f);
	out_begin();
	out_u64("bytes", total);
	out_end();
	zxvm_disconnect();
	return 0;
}

static int vmo_read(int argc, char **argv)
{
	const char *const *fv = FLAGS("--offset", "--size");
	zx_handle_t vmo = (zx_handle_t)cli_u64("VMO", need_pos(argc, argv, 0, fv, "VMO"));
	uint64_t offset = cli_u64("--offset", opt(argc, argv, "--offset") ?: "0");
	const char *sz = opt(argc, argv, "--size");
	if (!sz)
		cli_usage_error("missing --size");
	uint64_t size = cli_u64("--size", sz);
	cli_connect(true);
	char buf[1 << 16];
	uint64_t done = 0;
	do {
		size_t n = size - done < sizeof(buf) ? (size_t)(size - done) : sizeof(buf);
		cli_check(zx_vmo_read(vmo, buf, offset + done, n), "vmo read");
		if (!cli.json) {
			fwrite(buf, 1, n, stdout);
		} else {
			/* One JSON document: the bytes as a hex string, opened only once the first
			 * read worked so a failure prints nothing. */
			if (done == 0)
				printf("{\"offset\":%llu,\"size\":%llu,\"hex\":\"",
				       (unsigned long long)offset, (unsigned long long)size);
			for (size_t i = 0; i < n; i++)
				printf("%02x", (unsigned char)buf[i]);
		}
		done += n;
	} while (done < size);
	if (cli.json)
		puts("\"}");
	fflush(stdout);
	zxvm_disconnect();
	return 0;
}

static uint32_t perms(const char *s)
{
	uint32_t p = 0;
	for (; s && *s; s++) {
		if (*s == 'r')
			p |= ZX_VM_PERM_READ;
		else if (*s == 'w')
			p |= ZX_VM_PERM_WRITE;
		else if (*s == 'x')
			p |= ZX_VM_PERM_EXECUTE;
		else
			cli_usage_error("--perm: use letters r, w and x, not '%c'", *s);
	}
	return p;
}

static int vmar_map(int argc, char **argv)
{
	const char *const *fv = FLAGS("--addr", "--len", "--vmo-offset", "--perm");
	zx_handle_t vmar = (zx_handle_t)cli_u64("VMAR", need_pos(argc, argv, 0, fv, "VMAR"));
	zx_handle_t vmo = (zx_handle_t)cli_u64("VMO", need_pos(argc, argv, 1, fv, "VMO"));
	const char *addr = opt(argc, argv, "--addr"), *len = opt(argc, argv, "--len");
	if (!len)
		cli_usage_error("missing --len");
	uint32_t options = perms(opt(argc, argv, "--perm") ?: "rwx") |
			   (addr ? ZX_VM_SPECIFIC : 0);
	cli_connect(true);
	zx_vaddr_t mapped;
	cli_check(zx_vmar_map(vmar, options, addr ? cli_u64("--addr", addr) : 0, vmo,
			      cli_u64("--vmo-offset", opt(argc, argv, "--vmo-offset") ?: "0"),
			      cli_u64("--len", len), &mapped),
		  "vmar map");
	out_begin();
	out_hex("addr", mapped);
	out_end();
	zxvm_disconnect();
	return 0;
}

static int vmar_unmap(int argc, char **argv)
{
	const char *const *fv = FLAGS("--addr", "--len");
	zx_handle_t vmar = (zx_handle_t)cli_u64("VMAR", need_pos(argc, argv, 0, fv, "VMAR"));
	const char *addr = opt(argc, argv, "--addr"), *len = opt(argc, argv, "--len");
	if (!addr || !len)
		cli_usage_error("need --addr and --len");
	cli_connect(true);
	cli_check(zx_vmar_unmap(vmar, cli_u64("--addr", addr), cli_u64("--len", len)),
		  "vmar unmap");
	zxvm_disconnect();
	return 0;
}

static int vmar_protect(int argc, char **argv)
{
	const char *const *fv = FLAGS("--addr", "--len", "--perm");
	zx_handle_t vmar = (zx_handle_t)cli_u64("VMAR", need_pos(argc, argv, 0, fv, "VMAR"));
	const char *addr = opt(argc, argv, "--addr"), *len = opt(argc, argv, "--len");
	if (!addr || !len)
		cli_usage_error("need --addr and --len");
	cli_connect(true);
	cli_check(zx_vmar_protect(vmar, perms(opt(argc, argv, "--perm") ?: "r"),
				  cli_u64("--addr", addr), cli_u64("--len", len)),
		  "vmar protect");
	zxvm_disconnect();
	return 0;
}

static int trap_set(int argc, char **argv)
{
	const char *const *fv = FLAGS("--kind", "--addr", "--size", "--port", "--key");
	zx_handle_t guest = (zx_handle_t)cli_u64("GUEST", need_pos(argc, argv, 0, fv, "GUEST"));
	const char *kind = opt(argc, argv, "--kind") ?: "io";
	uint32_t k = strcmp(kind, "io") == 0	 ? ZX_GUEST_TRAP_IO
		     : strcmp(kind, "mem") == 0	 ? ZX_GUEST_TRAP_MEM
		     : strcmp(kind, "bell") == 0 ? ZX_GUEST_TRAP_BELL
						 : (cli_usage_error("--kind: io, mem or bell"), 0);
	const char *addr = opt(argc, argv, "--addr"), *size = opt(argc, argv, "--size");
	if (!addr || !size)
		cli_usage_error("need --addr and --size");
	cli_connect(true);
	cli_check(zx_guest_set_trap(guest, k, cli_u64("--addr", addr), cli_u64("--size", size),
				    (zx_handle_t)cli_u64("--port", opt(argc, argv, "--port") ?: "0"),
				    cli_u64("--key", opt(argc, argv, "--key") ?: "0")),
		  "trap set");
	zxvm_disconnect();
	return 0;
}

static int port_create(int argc, char **argv)
{
	cli_connect(true);
	zx_handle_t port;
	cli_check(zx_port_create(0, &port), "port create");
	out_begin();
	out_u64("port", port);
	out_end();
	zxvm_disconnect();
	return 0;
}

static int port_wait(int argc, char **argv)
{
	const char *const *fv = FLAGS("--timeout");
	zx_handle_t port = (zx_handle_t)cli_u64("PORT", need_pos(argc, argv, 0, fv, "PORT"));
	const char *t = opt(argc, argv, "--timeout");
	cli_connect(true);
	zx_time_t deadline = ZX_TIME_INFINITE;
	if (t) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		deadline = (zx_time_t)ts.tv_sec * 1000000000 + ts.tv_nsec +
			   (zx_time_t)cli_u64("--timeout", t) * 1000000;
	}
	zx_port_packet_t p;
	cli_check(zx_port_wait(port, deadline, &p), "port wait");
	cli_print_packet(&p);
	zxvm_disconnect();
	return 0;
}

static int port_queue(int argc, char **argv)
{
	const char *const *fv = FLAGS("--key", "--data");
	zx_handle_t port = (zx_handle_t)cli_u64("PORT", need_pos(argc, argv, 0, fv, "PORT"));
	zx_port_packet_t p = {.key = cli_u64("--key", opt(argc, argv, "--key") ?: "0")};
	p.user.u64[0] = cli_u64("--data", opt(argc, argv, "--data") ?: "0");
	cli_connect(true);
	cli_check(zx_port_queue(port, &p), "port queue");
	zxvm_disconnect();
	return 0;
}

static int vcpu_create(int argc, char **argv)
{
	const char *const *fv = FLAGS("--entry");
	zx_handle_t guest = (zx_handle_t)cli_u64("GUEST", need_pos(argc, argv, 0, fv, "GUEST"));
	const char *entry = opt(argc, argv, "--entry");
	if (!entry)
		cli_usage_error("missing --entry");
	cli_connect(true);
	zx_handle_t vcpu;
	cli_check(zx_vcpu_create(guest, 0, cli_u64("--entry", entry), &vcpu), "vcpu create");
	out_begin();
	out_u64("vcpu", vcpu);
	out_end();
	zxvm_disconnect();
	return 0;
}

static int vcpu_enter(int argc, char **argv)
{
	zx_handle_t vcpu = (zx_handle_t)cli_u64("VCPU", need_pos(argc, argv, 0, NULL, "VCPU"));
	cli_connect(true);
	zx_port_packet_t p;
	cli_check(zx_vcpu_enter(vcpu, &p), "vcpu enter");
	cli_print_packet(&p);
	zxvm_disconnect();
	return 0;
}

static int vcpu_kick(int argc, char **argv)
{
	zx_handle_t vcpu = (zx_handle_t)cli_u64("VCPU", need_pos(argc, argv, 0, NULL, "VCPU"));
	cli_connect(true);
	cli_check(zx_vcpu_kick(vcpu), "vcpu kick");
	zxvm_disconnect();
	return 0;
}

static int vcpu_interrupt(int argc, char **argv)
{
	zx_handle_t vcpu = (zx_handle_t)cli_u64("VCPU", need_pos(argc, argv, 0, NULL, "VCPU"));
	uint32_t vector = (uint32_t)cli_u64("VECTOR", need_pos(argc, argv, 1, NULL, "VECTOR"));
	cli_connect(true);
	cli_check(zx_vcpu_interrupt(vcpu, vector), "vcpu interrupt");
	zxvm_disconnect();
	return 0;
}

#define REGS(X)                                                                                    \
	X(rax) X(rcx) X(rdx) X(rbx) X(rsp) X(rbp) X(rsi) X(rdi) X(r8) X(r9) X(r10) X(r11) X(r12)   \
	X(r13) X(r14) X(r15) X(rflags)

static int vcpu_read_state(int argc, char **argv)
{
	zx_handle_t vcpu = (zx_handle_t)cli_u64("VCPU", need_pos(argc, argv, 0, NULL, "VCPU"));
	cli_connect(true);
	zx_vcpu_state_t s;
	cli_check(zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s)), "vcpu read-state");
	out_begin();
	out_kv_mode(true);
#define PR(r) out_hex(#r, s.r);
	REGS(PR)
#undef PR
	out_end();
	zxvm_disconnect();
	return 0;
}

/* "rax=0x1" into s; false if the register is unknown. */
static bool set_reg(zx_vcpu_state_t *s, const char *name, uint64_t v)
{
#define SET(r)                                                                                     \
	if (strcmp(name, #r) == 0) {                                                               \
		s->r = v;                                                                          \
		return true;                                                                       \
	}
	REGS(SET)
#undef SET
	return false;
}

/* The registers a write-state names, checked before connecting so that a usage error needs
 * no daemon, then applied over the current registers. */
struct reg_assigns {
	size_t n;
	struct {
		char name[16];
		uint64_t value;
	} a[64];
};

static void assign_reg(struct reg_assigns *as, const char *where, const char *name,
		       const char *val)
{
	zx_vcpu_state_t scratch = {0};
	uint64_t v = cli_u64(name, val);
	if (!set_reg(&scratch, name, v))
		cli_usage_error("%s: unknown register '%s'", where, name);
	if (as->n == sizeof(as->a) / sizeof(as->a[0]))
		cli_usage_error("%s: too many registers", where);
	snprintf(as->a[as->n].name, sizeof(as->a[0].name), "%s", name);
	as->a[as->n++].value = v;
}

/* JSON on stdin: {"rax": 1, "rbx": "0x10", ...}; a small, strict reader of flat objects. */
static void read_json_regs(struct reg_assigns *as)
{
	char buf[4096];
	size_t n = fread(buf, 1, sizeof(buf) - 1, stdin);
	buf[n] = 0;
	char *p = strchr(buf, '{');
	if (!p)
		cli_usage_error("stdin: expected a JSON object of registers");
	for (p++;;) {
		while (*p == ' ' || *p == '\n' || *p == '\t' || *p == ',' || *p == '\r')
			p++;
		if (*p == '}')
			return;
		char name[16] = "";
		if (sscanf(p, "\"%15[a-z0-9]", name) != 1 || p[1 + strlen(name)] != '"')
			cli_usage_error("stdin: bad JSON near '%.20s'", p);
		p += strlen(name) + 2;
		while (*p == ' ' || *p == ':')
			p++;
		char val[32];
		if (*p == '"' && sscanf(p + 1, "%31[0-9a-fA-Fx]", val) == 1 &&
		    p[1 + strlen(val)] == '"')
			p += strlen(val) + 2;
		else if (*p != '"' && sscanf(p, "%31[0-9a-fA-Fx]", val) == 1)
			p += strlen(val);
		else
			cli_usage_error("stdin: bad value for %s", name);
		assign_reg(as, "stdin", name, val);
	}
}

/* Every --set REG=VALUE; false if there is none. */
static bool read_set_regs(struct reg_assigns *as, int argc, char **argv)
{
	bool any = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--set") != 0)
			continue;
		const char *arg = opt(argc - i, argv + i, "--set");
		char name[16];
		const char *eq = strchr(arg, '=');
		if (!eq || eq - arg >= (long)sizeof(name))
			cli_usage_error("--set: expected REG=VALUE, got '%s'", arg);
		memcpy(name, arg, (size_t)(eq - arg));
		name[eq - arg] = 0;
		assign_reg(as, "--set", name, eq + 1);
		any = true;
		i++;
	}
	return any;
}

static int vcpu_write_state(int argc, char **argv)
{
	const char *const *fv = FLAGS("--set", "--kind", "--size", "--data");
	zx_handle_t vcpu = (zx_handle_t)cli_u64("VCPU", need_pos(argc, argv, 0, fv, "VCPU"));
	const char *kind = opt(argc, argv, "--kind") ?: "state";
	if (strcmp(kind, "io") == 0) {
		zx_vcpu_io_t io = {
			.access_size = (uint8_t)cli_u64("--size", opt(argc, argv, "--size") ?: "1"),
		};
		io.u32 = (uint32_t)cli_u64("--data", opt(argc, argv, "--data") ?: "0");
		cli_connect(true);
		cli_check(zx_vcpu_write_state(vcpu, ZX_VCPU_IO, &io, sizeof(io)),
			  "vcpu write-state --kind io");
	} else if (strcmp(kind, "state") == 0) {
		static struct reg_assigns as;
		if (!read_set_regs(&as, argc, argv))
			read_json_regs(&as);
		cli_connect(true);
		/* Start from the current registers so --set changes only what it names. */
		zx_vcpu_state_t s;
		cli_check(zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s)),
			  "vcpu write-state (reading the current state)");
		for (size_t i = 0; i < as.n; i++)
			set_reg(&s, as.a[i].name, as.a[i].value);
		/* Bit 1 makes the write apply RFLAGS (spec §2.8): the value read back, or the one
		 * named, which would otherwise be dropped unless it carried bit 1 itself. */
		s.rflags |= 0x2;
		cli_check(zx_vcpu_write_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s)),
			  "vcpu write-state");
	} else {
		cli_usage_error("--kind: state or io");
	}
	zxvm_disconnect();
	return 0;
}

static int handle_close(int argc, char **argv)
{
	zx_handle_t h = (zx_handle_t)cli_u64("HANDLE", need_pos(argc, argv, 0, NULL, "HANDLE"));
	cli_connect(true);
	cli_check(zx_handle_close(h), "handle close");
	zxvm_disconnect();
	return 0;
}

static int handle_dup_or_replace(int argc, char **argv, bool replace)
{
	const char *const *fv = FLAGS("--rights");
	zx_handle_t h = (zx_handle_t)cli_u64("HANDLE", need_pos(argc, argv, 0, fv, "HANDLE"));
	zx_rights_t rights = (zx_rights_t)cli_u64(
		"--rights", opt(argc, argv, "--rights") ?: "0x80000000" /* SAME_RIGHTS */);
	cli_connect(true);
	zx_handle_t out;
	cli_check(replace ? zx_handle_replace(h, rights, &out)
			  : zx_handle_duplicate(h, rights, &out),
		  replace ? "handle replace" : "handle duplicate");
	out_begin();
	out_u64("handle", out);
	out_end();
	zxvm_disconnect();
	return 0;
}

static int handle_duplicate(int argc, char **argv)
{
	return handle_dup_or_replace(argc, argv, false);
}

static int handle_replace(int argc, char **argv)
{
	return handle_dup_or_replace(argc, argv, true);
}

static const char *type_name(uint32_t t)
{
	switch (t) {
	case ZX_OBJ_TYPE_VMO:
		return "vmo";
	case ZX_OBJ_TYPE_PORT:
		return "port";
	case ZX_OBJ_TYPE_RESOURCE:
		return "resource";
	case ZX_OBJ_TYPE_VMAR:
		return "vmar";
	case ZX_OBJ_TYPE_GUEST:
		return "guest";
	case ZX_OBJ_TYPE_VCPU:
		return "vcpu";
	default:
		return "other";
	}
}

static int handle_info(int argc, char **argv)
{
	zx_handle_t h = (zx_handle_t)cli_u64("HANDLE", need_pos(argc, argv, 0, NULL, "HANDLE"));
	cli_connect(true);
	zx_info_handle_basic_t b;
	cli_check(zx_object_get_info(h, ZX_INFO_HANDLE_BASIC, &b, sizeof(b), NULL, NULL),
		  "handle info");
	out_begin();
	out_kv_mode(true);
	out_str("type", type_name(b.type));
	out_u64("koid", b.koid);
	out_hex("rights", b.rights);
	out_u64("related_koid", b.related_koid);
	if (b.type == ZX_OBJ_TYPE_VCPU) {
		zx_info_vcpu_t v;
		if (zx_object_get_info(h, ZX_INFO_VCPU, &v, sizeof(v), NULL, NULL) == ZX_OK)
			out_str("kicked", v.flags & ZX_INFO_VCPU_FLAG_KICKED ? "yes" : "no");
	}
	out_end();
	zxvm_disconnect();
	return 0;
}

static int stats(int argc, char **argv);
static int session_list(int argc, char **argv);

static const struct verb verbs[] = {
	{"session", "open", session_open,
	 "session open [NAME]\n  Open (or attach to) the named persistent session; prints its name and\n"
	 "  the hypervisor resource handle.\n  Example: zxvm session open build-42"},
	{"session", "close", session_close,
	 "session close [NAME]\n  Close the session: every handle in it, its guests with them.\n"
	 "  Example: zxvm session close build-42"},
	{"session", "list", session_list,
	 "session list\n  The named sessions, with their handle, guest and VCPU counts.\n"
	 "  Example: zxvm --json session list"},
	{"guest", "create", guest_create,
	 "guest create [--options N]\n  zx_guest_create: prints GUEST VMAR.\n"
	 "  Example: read guest vmar < <(zxvm guest create)"},
	{"vmo", "create", vmo_create,
	 "vmo create SIZE [--options N] [--executable 1]\n  zx_vmo_create (SIZE may end in K, M, G);\n"
	 "  --executable also makes it executable (zx_vmo_replace_as_executable). Prints VMO.\n"
	 "  Example: vmo=$(zxvm vmo create 2M --executable 1)"},
	{"vmo", "write", vmo_write,
	 "vmo write VMO [FILE|-] [--offset N]\n  zx_vmo_write of a file (or stdin); prints the bytes written.\n"
	 "  Example: zxvm vmo write $vmo hello.bin --offset 0x100000"},
	{"vmo", "read", vmo_read,
	 "vmo read VMO --size N [--offset N]\n"
	 "  zx_vmo_read to stdout (with --json: {offset, size, hex}).\n"
	 "  Example: zxvm vmo read $vmo --size 16 | xxd"},
	{"vmar", "map", vmar_map,
	 "vmar map VMAR VMO --len N [--addr GPA] [--vmo-offset N] [--perm rwx]\n"
	 "  zx_vmar_map (ZX_VM_SPECIFIC when --addr is given); prints the guest-physical address.\n"
	 "  Example: zxvm vmar map $vmar $vmo --addr 0 --len 2M"},
	{"vmar", "unmap", vmar_unmap,
	 "vmar unmap VMAR --addr GPA --len N\n  zx_vmar_unmap.\n"
	 "  Example: zxvm vmar unmap $vmar --addr 0x1000 --len 4K"},
	{"vmar", "protect", vmar_protect,
	 "vmar protect VMAR --addr GPA --len N [--perm rwx]\n  zx_vmar_protect.\n"
	 "  Example: zxvm vmar protect $vmar --addr 0 --len 4K --perm r"},
	{"trap", "set", trap_set,
	 "trap set GUEST --kind io|mem|bell --addr A --size N [--port PORT] [--key K]\n"
	 "  zx_guest_set_trap (bell traps need --port).\n"
	 "  Example: zxvm trap set $guest --kind io --addr 0x3f8 --size 8 --key 1"},
	{"port", "create", port_create,
	 "port create\n  zx_port_create; prints PORT.\n  Example: port=$(zxvm port create)"},
	{"port", "wait", port_wait,
	 "port wait PORT [--timeout MS]\n  zx_port_wait (forever without --timeout); prints the packet.\n"
	 "  Example: zxvm port wait $port --timeout 100"},
	{"port", "queue", port_queue,
	 "port queue PORT [--key K] [--data U64]\n  zx_port_queue of a user packet.\n"
	 "  Example: zxvm port queue $port --key 7 --data 42"},
	{"vcpu", "create", vcpu_create,
	 "vcpu create GUEST --entry GPA\n  zx_vcpu_create on --thread's id; prints VCPU.\n"
	 "  Example: vcpu=$(zxvm vcpu create $guest --entry 0x100000)"},
	{"vcpu", "enter", vcpu_enter,
	 "vcpu enter VCPU\n  zx_vcpu_enter; prints the packet (type, key, and its fields).\n"
	 "  Example: zxvm vcpu enter $vcpu"},
	{"vcpu", "kick", vcpu_kick, "vcpu kick VCPU\n  zx_vcpu_kick.\n  Example: zxvm vcpu kick $vcpu"},
	{"vcpu", "interrupt", vcpu_interrupt,
	 "vcpu interrupt VCPU VECTOR\n  zx_vcpu_interrupt.\n  Example: zxvm vcpu interrupt $vcpu 32"},
	{"vcpu", "read-state", vcpu_read_state,
	 "vcpu read-state VCPU\n  zx_vcpu_read_state(ZX_VCPU_STATE): one register per line.\n"
	 "  Example: zxvm vcpu read-state $vcpu | grep rax"},
	{"vcpu", "write-state", vcpu_write_state,
	 "vcpu write-state VCPU [--set REG=VALUE]... | < JSON\n"
	 "vcpu write-state VCPU --kind io --size 1|2|4 --data VALUE\n"
	 "  zx_vcpu_write_state: registers not named keep their value; without --set a JSON\n"
	 "  object of registers is read from stdin. --kind io supplies an `in` result.\n"
	 "  Example: zxvm vcpu write-state $vcpu --set rax=0x1234 --set rbx=7"},
	{"handle", "close", handle_close,
	 "handle close HANDLE\n  zx_handle_close.\n  Example: zxvm handle close $vmo"},
	{"handle", "duplicate", handle_duplicate,
	 "handle duplicate HANDLE [--rights R]\n  zx_handle_duplicate (default: same rights).\n"
	 "  Example: zxvm handle duplicate $vcpu --rights 0xc00d"},
	{"handle", "replace", handle_replace,
	 "handle replace HANDLE [--rights R]\n  zx_handle_replace.\n"
	 "  Example: ro=$(zxvm handle replace $vcpu --rights 0x4)"},
	{"handle", "info", handle_info,
	 "handle info HANDLE\n  zx_object_get_info(ZX_INFO_HANDLE_BASIC): type, koid, rights.\n"
	 "  Example: zxvm handle info $guest"},
	{"stats", NULL, stats,
	 "stats\n  Daemon-wide counts: sessions, guests, VCPUs, and each VCPU's exits by kind\n"
	 "  (io, mem, bell, vcpu, hlt, interrupt, msr, kick, error).\n  Example: zxvm --json stats"},
	{"run", NULL, cmd_run, NULL},
};

static int session_list(int argc, char **argv)
{
	cli_connect(false);
	struct zxvm_session_info infos[256];
	size_t n = 0;
	cli_check(zxvm_list_sessions(infos, 256, &n), "session list");
	n = n < 256 ? n : 256;
	if (cli.json) {
		printf("{\"sessions\":[");
		for (size_t i = 0; i < n; i++)
			printf("%s{\"name\":\"%s\",\"handles\":%u,\"guests\":%u,\"vcpus\":%u}",
			       i ? "," : "", infos[i].name, infos[i].handles, infos[i].guests,
			       infos[i].vcpus);
		printf("]}\n");
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%s handles=%u guests=%u vcpus=%u\n", infos[i].name, infos[i].handles,
			       infos[i].guests, infos[i].vcpus);
	}
	zxvm_disconnect();
	return 0;
}

static int stats(int argc, char **argv)
{
	cli_connect(false);
	struct zxvm_stats st;
	static struct zxvm_vcpu_stats v[1024];
	size_t n = 0;
	cli_check(zxvm_get_stats(&st, v, 1024, &n), "stats");
	n = n < 1024 ? n : 1024;
	if (cli.json) {
		/* This process's own (ephemeral) session counts as one. */
		printf("{\"sessions\":%u,\"guests\":%u,\"vcpus\":%u,\"vcpu\":[", st.sessions,
		       st.guests, st.vcpus);
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"session\":\"%s\",\"vpid\":%u,\"exits\":{", i ? "," : "",
			       v[i].session, v[i].vpid);
			for (unsigned k = 0; k < ZXVM_EXIT_KINDS; k++)
				printf("%s\"%s\":%llu", k ? "," : "", zxvm_exit_kind_name(k),
				       (unsigned long long)v[i].exits[k]);
			printf("}}");
		}
		printf("]}\n");
	} else {
		printf("sessions %u\nguests %u\nvcpus %u\n", st.sessions, st.guests, st.vcpus);
		for (size_t i = 0; i < n; i++) {
			printf("vcpu session=%s vpid=%u", v[i].session, v[i].vpid);
			for (unsigned k = 0; k < ZXVM_EXIT_KINDS; k++)
				printf(" %s=%llu", zxvm_exit_kind_name(k),
				       (unsigned long long)v[i].exits[k]);
			putchar('\n');
		}
	}
	zxvm_disconnect();
	return 0;
}

static void verb_help(const struct verb *v)
{
	printf("Usage: zxvm [GLOBAL OPTION]... %s\n", v->help);
}

int main(int argc, char **argv)
{
	static const struct option globals[] = {
		{"addr", required_argument, NULL, 'a'},  {"session", required_argument, NULL, 's'},
		{"thread", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},	  {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	cli.tty = isatty(STDOUT_FILENO);
	int c;
	/* Global options come before the verb ("+": stop at the first non-option; ":": report a
	 * missing value apart from an unknown option). The messages are ours, not getopt's. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", globals, NULL)) != -1) {
		switch (c) {
		case 'a':
			cli.addr = optarg;
			break;
		case 's':
			cli.session = optarg;
			break;
		case 't':
			cli.thread = cli_u64("--thread", optarg);
			if (!cli.thread)
				cli_usage_error("--thread: 0 is not a thread id");
			break;
		case 'j':
			cli.json = true;
			break;
		case 'h':
			fputs(main_help, stdout);
			return 0;
		case 'V':
			printf("zxvm %s\n", ZXVM_VERSION);
			return 0;
		case ':':
			cli_usage_error("%s needs a value", argv[optind - 1]);
		default:
			cli_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		fputs(main_help, stderr);
		return EXIT_USAGE;
	}
	const char *noun = argv[optind], *name = optind + 1 < argc ? argv[optind + 1] : NULL;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		const struct verb *v = &verbs[i];
		if (strcmp(v->noun, noun) != 0)
			continue;
		if (!v->name) {
			/* One-word verbs: zxvm run, zxvm stats. */
			static char path[64];
			snprintf(path, sizeof(path), "zxvm %s", noun);
			verb_path = path;
			int rest = argc - optind - 1;
			char **args = argv + optind + 1;
			for (int k = 0; k < rest; k++) {
				if (strcmp(args[k], "--json") == 0)
					cli.json = true;
				if (strcmp(args[k], "--help") == 0 && v->help) {
					verb_help(v);
					return 0;
				}
			}
			return v->fn(rest, args);
		}
		if (!name || strcmp(v->name, name) != 0)
			continue;
		static char path[64];
		snprintf(path, sizeof(path), "zxvm %s %s", noun, name);
		verb_path = path;
		int rest = argc - optind - 2;
		char **args = argv + optind + 2;
		for (int k = 0; k < rest; k++) {
			if (strcmp(args[k], "--json") == 0)
				cli.json = true;
			if (strcmp(args[k], "--help") == 0) {
				verb_help(v);
				return 0;
			}
		}
		return v->fn(rest, args);
	}
	cli_usage_error("unknown verb '%s%s%s'", noun, name ? " " : "", name ? name : "");
}
