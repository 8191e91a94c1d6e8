/* zxvm run IMAGE: the common job in one command. Boots a flat binary or an ELF64 image on one
 * VCPU in the 64-bit state Zircon gives its bootstrap processor (spec §5.1: paging on, CR3 =
 * 0), with identity page tables at GPA 0 covering RAM, streams the guest's serial port to
 * stdout, and stops when the guest writes its exit code to the exit port, on --timeout, or on
 * Ctrl-C (the VCPU is kicked and everything is torn down). */
#include <elf.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zircon/syscalls.h>
#include <zxvm/zxvm.h>

#include "cli-internal.h"

#define PT_END 0x6000u /* PML4 0x0, PDPT 0x1000, 4 PDs: 4 GiB of 2 MiB pages */
#define SERIAL_KEY 1
#define EXIT_KEY 2
#define EXIT_TIMEOUT 124
#define EXIT_INTERRUPTED 130

static const char run_help[] =
	"Usage: zxvm [GLOBAL OPTION]... run IMAGE [OPTION]...\n"
	"Boot IMAGE (a flat binary, or an ELF64 x86-64 executable) and stream its serial port.\n"
	"The guest starts in 64-bit mode at its entry with paging on and identity page tables\n"
	"at GPA 0 (Zircon's bootstrap state); it ends by writing an exit code with\n"
	"`out %al, $0xf4`.\n"
	"\n"
	"  --mem SIZE          guest RAM at GPA 0 (default 16M; K, M, G suffixes)\n"
	"  --load ADDR         where a flat image is loaded (default 0x100000)\n"
	"  --entry ADDR        entry point (default: the load address, or the ELF entry)\n"
	"  --serial-port PORT  16550 UART base whose output goes to stdout (default 0x3f8)\n"
	"  --exit-port PORT    the guest's exit code port (default 0xf4)\n"
	"  --timeout SECONDS   stop the guest after this long (exit 124)\n"
	"\n"
	"Exit status: the guest's exit code; 124 on timeout, 130 on Ctrl-C, 3 if the guest\n"
	"stopped with an error (the message names the ZX status), 1 usage, 2 no daemon.\n"
	"\n"
	"Example: zxvm run examples/hello.bin --timeout 10\n";

static int wake_pipe[2] = {-1, -1};
/* Atomic, not only sig_atomic_t: the handler runs on the main thread, the watcher reads it on
 * its own (a lock-free atomic is as safe in a signal handler). */
static atomic_int interrupted;

static void on_sigint(int sig)
{
	interrupted = 1;
	char c = 0;
	if (write(wake_pipe[1], &c, 1) < 0) {
		/* Nothing to do: the pipe is only a wake-up. */
	}
}

struct watcher {
	zx_handle_t vcpu;
	int timeout_ms; /* -1: none */
	bool fired_timeout;
};

/* Kicks the VCPU on Ctrl-C or at the timeout; ends when the run loop closes the pipe. */
static void *watch(void *arg)
{
	struct watcher *w = arg;
	struct pollfd pfd = {.fd = wake_pipe[0], .events = POLLIN};
	int r = poll(&pfd, 1, w->timeout_ms);
	if (r == 0)
		w->fired_timeout = true;
	if (r == 0 || interrupted)
		zx_vcpu_kick(w->vcpu);
	return NULL;
}

static uint8_t *read_image(const char *path, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "zxvm run: %s: %s\n", path, strerror(errno));
		exit(EXIT_USAGE);
	}
	struct stat st;
	fstat(fileno(f), &st);
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
	fclose(f);
	if (!buf || n != (size_t)st.st_size) {
		fprintf(stderr, "zxvm run: %s: cannot read it\n", path);
		exit(EXIT_USAGE);
	}
	*out_len = n;
	return buf;
}

static void check_range(uint64_t addr, uint64_t len, uint64_t mem, const char *what)
{
	if (addr < PT_END || addr > mem || len > mem - addr) {
		fprintf(stderr,
			"zxvm run: %s [%#llx, %#llx) does not fit in guest RAM [%#x, %#llx) "
			"(page tables use [0, %#x)); try --mem or --load\n",
			what, (unsigned long long)addr, (unsigned long long)(addr + len), PT_END,
			(unsigned long long)mem, PT_END);
		exit(EXIT_USAGE);
	}
}

/* ELF64 x86-64: copy each PT_LOAD segment to its physical address. */
static uint64_t load_elf(zx_handle_t vmo, const uint8_t *img, size_t len, uint64_t mem)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	if (len < sizeof(*eh) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64 ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len) {
		fprintf(stderr, "zxvm run: not an ELF64 little-endian x86-64 image\n");
		exit(EXIT_USAGE);
	}
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (ph[i].p_offset > len || ph[i].p_filesz > len - ph[i].p_offset ||
		    ph[i].p_filesz > ph[i].p_memsz) {
			fprintf(stderr, "zxvm run: ELF segment %d lies outside the file\n", i);
			exit(EXIT_USAGE);
		}
		check_range(ph[i].p_paddr, ph[i].p_memsz, mem, "ELF segment");
		cli_check(zx_vmo_write(vmo, img + ph[i].p_offset, ph[i].p_paddr, ph[i].p_filesz),
			  "loading the image (zx_vmo_write)");
	}
	return eh->e_entry;
}

static void write_page_tables(zx_handle_t vmo)
{
	static uint64_t pt[PT_END / 8];
	pt[0] = 0x1000 | 3;
	for (uint64_t i = 0; i < 4; i++)
		pt[0x1000 / 8 + i] = (0x2000 + i * 0x1000) | 3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pt[0x2000 / 8 + i] = (i << 21) | 0x83; /* P | RW | PS */
	cli_check(zx_vmo_write(vmo, pt, 0, sizeof(pt)), "writing page tables (zx_vmo_write)");
}

static const char *const run_flags[] = {"--mem",	 "--load",	"--entry", "--serial-port",
					"--exit-port", "--timeout", NULL};

int cmd_run(int argc, char **argv)
{
	const char *image = NULL;
	uint64_t mem = 16u << 20, load = 0x100000, serial = 0x3f8, exit_port = 0xf4;
	const char *entry_s = NULL;
	int timeout_ms = -1;
	for (int i = 0; i < argc; i++) {
		bool flag = false;
		for (const char *const *f = run_flags; *f; f++)
			flag |= strcmp(argv[i], *f) == 0;
		if (flag && i + 1 >= argc)
			cli_usage_error("%s needs a value", argv[i]);
		if (strcmp(argv[i], "--help") == 0) {
			fputs(run_help, stdout);
			return 0;
		} else if (strcmp(argv[i], "--mem") == 0) {
			mem = cli_u64("--mem", argv[++i]);
		} else if (strcmp(argv[i], "--load") == 0) {
			load = cli_u64("--load", argv[++i]);
		} else if (strcmp(argv[i], "--entry") == 0) {
			entry_s = argv[++i];
		} else if (strcmp(argv[i], "--serial-port") == 0) {
			serial = cli_u64("--serial-port", argv[++i]);
		} else if (strcmp(argv[i], "--exit-port") == 0) {
			exit_port = cli_u64("--exit-port", argv[++i]);
		} else if (strcmp(argv[i], "--timeout") == 0) {
			uint64_t s = cli_u64("--timeout", argv[++i]);
			timeout_ms = s > 2000000 ? 2000000000 : (int)(s * 1000);
		} else if (argv[i][0] == '-' && argv[i][1]) {
			cli_usage_error("unknown option '%s'", argv[i]);
		} else if (!image) {
			image = argv[i];
		} else {
			cli_usage_error("one IMAGE only ('%s'?)", argv[i]);
		}
	}
	if (!image)
		cli_usage_error("missing IMAGE");
	if (mem < (2u << 20) || mem > (4ull << 30) || mem % (2u << 20))
		cli_usage_error("--mem: a multiple of 2M from 2M to 4G");
	if (serial > 0xfff8 || exit_port > 0xffff || (exit_port >= serial && exit_port < serial + 8))
		cli_usage_error("--serial-port/--exit-port: ports must not overlap and be < 0x10000");

	size_t len;
	uint8_t *img = read_image(image, &len);
	/* One guest per run, in an ephemeral session: it goes away with this process. */
	cli.session = NULL;
	cli_connect(false);
	zx_handle_t guest, vmar, vmo, vcpu;
	cli_check(zx_guest_create(cli.resource, 0, &guest, &vmar), "zx_guest_create");
	cli_check(zx_vmo_create(mem, 0, &vmo), "zx_vmo_create (guest RAM)");
	cli_check(zx_vmo_replace_as_executable(vmo, ZX_HANDLE_INVALID, &vmo),
		  "zx_vmo_replace_as_executable");
	write_page_tables(vmo);
	uint64_t entry = load;
	bool elf = len >= 4 && memcmp(img, ELFMAG, SELFMAG) == 0;
	if (elf) {
		entry = load_elf(vmo, img, len, mem);
	} else {
		check_range(load, len, mem, "the image");
		cli_check(zx_vmo_write(vmo, img, load, len), "loading the image (zx_vmo_write)");
	}
	free(img);
	if (entry_s)
		entry = cli_u64("--entry", entry_s);
	zx_vaddr_t addr;
	cli_check(zx_vmar_map(vmar,
			      ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE | ZX_VM_SPECIFIC,
			      0, vmo, 0, mem, &addr),
		  "zx_vmar_map (guest RAM)");
	cli_check(zx_guest_set_trap(guest, ZX_GUEST_TRAP_IO, serial, 8, ZX_HANDLE_INVALID,
				    SERIAL_KEY),
		  "zx_guest_set_trap (serial port)");
	cli_check(zx_guest_set_trap(guest, ZX_GUEST_TRAP_IO, exit_port, 1, ZX_HANDLE_INVALID,
				    EXIT_KEY),
		  "zx_guest_set_trap (exit port)");
	cli_check(zx_vcpu_create(guest, 0, entry, &vcpu), "zx_vcpu_create");
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "zxvm run: %s: %zu bytes (%s), entry %#llx, %llu MiB RAM\n", image,
			len, elf ? "ELF" : "flat", (unsigned long long)entry,
			(unsigned long long)(mem >> 20));

	if (pipe(wake_pipe) < 0)
		cli_fail("pipe", ZX_ERR_NO_RESOURCES);
	struct sigaction sa = {.sa_handler = on_sigint};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct watcher w = {.vcpu = vcpu, .timeout_ms = timeout_ms};
	pthread_t watcher;
	pthread_create(&watcher, NULL, watch, &w);

	int code = -1;
	zx_status_t st = ZX_OK;
	while (code < 0) {
		zx_port_packet_t p;
		st = zx_vcpu_enter(vcpu, &p);
		if (st != ZX_OK)
			break;
		if (p.type != ZX_PKT_TYPE_GUEST_IO)
			continue;
		if (p.key == EXIT_KEY) {
			code = p.guest_io.u8;
		} else if (p.guest_io.input) {
			/* Line status (base+5): transmitter empty, so polling guests go on. */
			zx_vcpu_io_t io = {.access_size = p.guest_io.access_size,
					   .u32 = p.guest_io.port == serial + 5 ? 0x60 : 0};
			st = zx_vcpu_write_state(vcpu, ZX_VCPU_IO, &io, sizeof(io));
			if (st != ZX_OK)
				break;
		} else if (p.guest_io.port == serial) {
			if (write(STDOUT_FILENO, p.guest_io.data, 1) < 0)
				break; /* stdout closed: the reader is gone */
		}
	}
	close(wake_pipe[1]); /* ends the watcher */
	pthread_join(watcher, NULL);
	close(wake_pipe[0]);
	zx_handle_close(vcpu);
	zx_handle_close(vmo);
	zx_handle_close(vmar);
	zx_handle_close(guest);
	zxvm_disconnect();

	if (code >= 0)
		return code;
	if (st == ZX_ERR_CANCELED && w.fired_timeout) {
		fprintf(stderr, "zxvm run: timed out after %d s; the guest was stopped\n",
			timeout_ms / 1000);
		return EXIT_TIMEOUT;
	}
	if (st == ZX_ERR_CANCELED && interrupted) {
		fprintf(stderr, "zxvm run: interrupted; the guest was stopped\n");
		return EXIT_INTERRUPTED;
	}
	fprintf(stderr, "zxvm run: the guest stopped: zx_vcpu_enter: %s\n",
		zx_status_get_string(st));
	return EXIT_ZX;
}
