/* zxvmd: the daemon. Parses flags, checks KVM, starts the gRPC server, and runs the libuv
 * control loop: signals (SIGTERM/SIGINT: stop accepting, kick every VCPU, answer what is
 * pending, exit 0; SIGHUP: read the TLS certificates again), systemd notification and
 * watchdog, and the unix-socket accepts. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>
#include <uv.h>

#include <zircon/errors.h>

#include "daemon-internal.h"

static uv_loop_t loop;
static uv_signal_t sigterm, sigint, sighup;
static uv_timer_t watchdog, status_timer;
static int exit_code;

static void stop(uv_signal_t *h, int signum)
{
	zxd_log(ZXD_LOG_NOTICE, "%s: stopping (%u sessions)", strsignal(signum),
		zxd_sessions_count());
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	zxd_server_shutdown();
	uv_stop(&loop);
}

static void reload(uv_signal_t *h, int signum)
{
	zxd_log(ZXD_LOG_NOTICE, "%s: reading the TLS certificate files again", strsignal(signum));
	zxd_server_reload_tls();
}

static void on_watchdog(uv_timer_t *t)
{
	/* Pinging from the loop proves the loop is alive; a stuck loop gets restarted. */
	sd_notify(0, "WATCHDOG=1");
}

static void on_status(uv_timer_t *t)
{
	sd_notifyf(0, "STATUS=serving, %u sessions", zxd_sessions_count());
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int main(int argc, char **argv)
{
	static struct zxd_config cfg;
	zxd_config_defaults(&cfg);
	int rc = zxd_config_parse(&cfg, argc, argv);
	if (rc != 0)
		return rc > 0 ? 0 : 1;
	zxd_log_set_level(cfg.log_level);
	if (cfg.nlisten == 0 && sd_listen_fds(0) <= 0)
		cfg.listen[cfg.nlisten++] = "unix:/run/zxvmd/zxvmd.sock";

	const char *why = NULL;
	if (kb_platform_check(&why) != ZX_OK)
		zxd_log(ZXD_LOG_WARNING, "KVM is not usable (%s): guests cannot be created", why);
	signal(SIGPIPE, SIG_IGN);
	zxd_sessions_init(&cfg);
	zxd_vthreads_set_limit(cfg.max_vcpu_threads_per_session);

	uv_loop_init(&loop);
	if (zxd_server_start(&cfg, &loop) < 0) {
		zxd_log(ZXD_LOG_ERR, "cannot start; see the messages above");
		return 1;
	}
	uv_signal_init(&loop, &sigterm);
	uv_signal_start_oneshot(&sigterm, stop, SIGTERM);
	uv_signal_init(&loop, &sigint);
	uv_signal_start_oneshot(&sigint, stop, SIGINT);
	uv_signal_init(&loop, &sighup);
	uv_signal_start(&sighup, reload, SIGHUP);
	uint64_t wd_usec = 0;
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		uv_timer_init(&loop, &watchdog);
		uv_timer_start(&watchdog, on_watchdog, 0, wd_usec / 2000);
	}
	uv_timer_init(&loop, &status_timer);
	uv_timer_start(&status_timer, on_status, 5000, 5000);
	uv_unref((uv_handle_t *)&status_timer);
	/* Started (gRPC's threads run, the listeners are open): from here on only the calls
	 * serving needs, on every thread (seccomp.c). */
	if (cfg.no_seccomp) {
		zxd_log(ZXD_LOG_NOTICE, "--no-seccomp: running without a system call filter");
	} else if ((rc = zxd_seccomp_install()) < 0) {
		zxd_log(ZXD_LOG_ERR, "cannot install the seccomp filter: %s (--no-seccomp runs "
			"without it)", strerror(-rc));
		return 1;
	}

	zxd_log(ZXD_LOG_NOTICE, "zxvmd %s ready", ZXVM_VERSION);
	sd_notify(0, "READY=1\nSTATUS=serving, 0 sessions");
	uv_run(&loop, UV_RUN_DEFAULT);

	uv_walk(&loop, close_walk, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	zxd_log(ZXD_LOG_INFO, "stopped");
	return exit_code;
}
