/* Sessions: Zircon's processes over RPC. Each is a kvm_backend handle table named by an
 * unguessable token (128 bits from getrandom), ephemeral (ends with its Lease stream) or
 * named and persistent (ends with CloseSession). */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <zircon/errors.h>

#include "daemon-internal.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zxd_session *sessions; /* guarded by registry_lock */
static uint32_t nsessions;           /* guarded by registry_lock */
static const struct zxd_config *config;

zx_status_t zxd_sessions_init(const struct zxd_config *cfg)
{
	config = cfg;
	return ZX_OK;
}

static struct zxd_session *ref(struct zxd_session *s)
{
	atomic_fetch_add(&s->refs, 1);
	return s;
}

/* An ephemeral session whose client never took the Lease would live forever: such sessions
 * are closed once they are this old (the library takes the lease right after opening). */
#define LEASE_GRACE_NS (30ll * 1000000000)

/* With the registry lock held: unlink the first leaseless ephemeral session past its grace. */
static struct zxd_session *take_expired_locked(int64_t now)
{
	for (struct zxd_session *s = sessions; s; s = s->next)
		if (!s->name[0] && !atomic_load(&s->leased) && now - s->opened_ns > LEASE_GRACE_NS &&
		    !atomic_load(&s->closed))
			return ref(s);
	return NULL;
}

static bool valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}


zx_status_t zxd_session_open(const char *name, const struct zxd_peer *peer,
			     struct zxd_session **out, bool *out_created)
{
	if (!name || !valid_name(name))
		return ZX_ERR_INVALID_ARGS;
	int64_t now = kb_clock_monotonic();
	for (;;) {
		pthread_mutex_lock(&registry_lock);
		struct zxd_session *old = take_expired_locked(now);
		pthread_mutex_unlock(&registry_lock);
		if (!old)
			break;
		zxd_log(ZXD_LOG_NOTICE, "session %.8s never took its lease: closing it", old->token);
		zxd_session_close(old);
		zxd_session_unref(old);
	}
	pthread_mutex_lock(&registry_lock);
	/* A named session is shared by whoever names it with the same authorization. */
	for (struct zxd_session *s = sessions; name[0] && s; s = s->next) {
		if (strcmp(s->name, name) == 0 && s->authorized == peer->authorized &&
		    !atomic_load(&s->closed)) {
			*out = ref(s);
			*out_created = false;
			pthread_mutex_unlock(&registry_lock);
			return ZX_OK;
		}
	}
	if (nsessions >= config->max_sessions) {
		pthread_mutex_unlock(&registry_lock);
		return ZX_ERR_NO_RESOURCES;
	}
	struct zxd_session *s = calloc(1, sizeof(*s));
	zx_status_t st = s ? kb_table_create(&config->limits, &s->table) : ZX_ERR_NO_MEMORY;
	uint8_t rnd[16];
	if (st == ZX_OK && getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		st = ZX_ERR_INTERNAL;
	if (st == ZX_OK && peer->authorized)
		st = kb_table_grant_resource(s->table, false, &s->resource);
	if (st != ZX_OK) {
		pthread_mutex_unlock(&registry_lock);
		if (s)
			kb_table_destroy(s->table);
		free(s);
		return st;
	}
	for (int i = 0; i < 16; i++)
		snprintf(&s->token[i * 2], 3, "%02x", rnd[i]);
	snprintf(s->name, sizeof(s->name), "%s", name);
	atomic_init(&s->refs, 2); /* the registry's, and the caller's */
	s->authorized = peer->authorized;
	s->uid = peer->uid;
	s->opened_ns = now;
	pthread_mutex_init(&s->lock, NULL);
	s->next = sessions;
	sessions = s;
	nsessions++;
	pthread_mutex_unlock(&registry_lock);
	*out = s;
	*out_created = true;
	zxd_log(ZXD_LOG_INFO, "session %.8s opened (%s) by %s%s", s->token,
		name[0] ? name : "ephemeral", peer->what,
		peer->authorized ? "" : ", not authorized for guests");
	return ZX_OK;
}

struct zxd_session *zxd_session_find(const char *token)
{
	if (!token)
		return NULL;
	pthread_mutex_lock(&registry_lock);
	struct zxd_session *found = NULL;
	for (struct zxd_session *s = sessions; s && !found; s = s->next)
		if (strcmp(s->token, token) == 0 && !atomic_load(&s->closed))
			found = ref(s);
	pthread_mutex_unlock(&registry_lock);
	return found;
}

void zxd_session_unref(struct zxd_session *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	/* The last call using the session is done: its VCPU threads are idle or gone. */
	zxd_vthreads_stop(s);
	kb_table_destroy(s->table);
	/* After this line the session holds no fd (tests wait for it); a VCPU thread that dropped
	 * this last reference itself ends as soon as its work item returns. */
	zxd_log(ZXD_LOG_DEBUG, "session %.8s freed", s->token);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void zxd_session_close(struct zxd_session *s)
{
	if (atomic_exchange(&s->closed, true))
		return;
	pthread_mutex_lock(&registry_lock);
	for (struct zxd_session **pp = &sessions; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			nsessions--;
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	struct kb_table_stats st;
	kb_table_get_stats(s->table, &st);
	zxd_log(ZXD_LOG_INFO, "session %.8s closed (%s): %u handles, %u guests, %u vcpus released",
		s->token, s->name[0] ? s->name : "ephemeral", st.handles, st.guests, st.vcpus);
	/* Calls blocked in enter return CANCELED; the handles go with the last reference. */
	kb_table_kick_all(s->table);
	zxd_session_unref(s);
}

void zxd_sessions_close_all(void)
{
	for (;;) {
		pthread_mutex_lock(&registry_lock);
		struct zxd_session *s = sessions ? ref(sessions) : NULL;
		pthread_mutex_unlock(&registry_lock);
		if (!s)
			return;
		zxd_session_close(s);
		zxd_session_unref(s);
	}
}

uint32_t zxd_sessions_count(void)
{
	pthread_mutex_lock(&registry_lock);
	uint32_t n = nsessions;
	pthread_mutex_unlock(&registry_lock);
	return n;
}

void zxd_sessions_list(Zxvm__V1__ListSessionsResponse *resp)
{
	pthread_mutex_lock(&registry_lock);
	size_t n = 0;
	for (struct zxd_session *s = sessions; s; s = s->next)
		n += s->name[0] != 0;
	resp->sessions = calloc(n ? n : 1, sizeof(*resp->sessions));
	Zxvm__V1__SessionInfo *infos = calloc(n ? n : 1, sizeof(*infos));
	if (!resp->sessions || !infos) {
		free(resp->sessions);
		free(infos);
		resp->sessions = NULL;
		resp->status = ZX_ERR_NO_MEMORY;
		pthread_mutex_unlock(&registry_lock);
		return;
	}
	for (struct zxd_session *s = sessions; s; s = s->next) {
		if (!s->name[0])
			continue;
		Zxvm__V1__SessionInfo *i = &infos[resp->n_sessions];
		zxvm__v1__session_info__init(i);
		struct kb_table_stats st;
		kb_table_get_stats(s->table, &st);
		i->name = strdup(s->name);
		i->handles = st.handles;
		i->guests = st.guests;
		i->vcpus = st.vcpus;
		resp->sessions[resp->n_sessions++] = i;
	}
	/* The infos live in one block: sessions[0] owns it (zxd_response_free_extra). */
	if (resp->n_sessions == 0)
		free(infos);
	pthread_mutex_unlock(&registry_lock);
}

/* One VcpuStats entry, laid out as protobuf-c's unpack would (each part malloc'ed), so that
 * protobuf_c_message_free_unpacked() frees it (zxd_response_free_extra). */
static Zxvm__V1__VcpuStats *vcpu_entry(const struct zxd_session *s, const struct kb_vcpu_stats *v)
{
	Zxvm__V1__VcpuStats *e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	zxvm__v1__vcpu_stats__init(e);
	e->session = strdup(s->name[0] ? s->name : "ephemeral");
	e->vpid = v->vpid;
	e->exits = calloc(KB_EXIT_KIND_COUNT, sizeof(*e->exits));
	for (int k = 0; e->exits && k < KB_EXIT_KIND_COUNT; k++) {
		Zxvm__V1__VcpuStats__ExitsEntry *x = malloc(sizeof(*x));
		if (!x)
			break;
		zxvm__v1__vcpu_stats__exits_entry__init(x);
		x->key = strdup(kb_exit_kind_to_string((enum kb_exit_kind)k));
		x->value = v->exits[k];
		e->exits[e->n_exits++] = x;
	}
	return e;
}

void zxd_sessions_stats(Zxvm__V1__StatsResponse *resp)
{
	pthread_mutex_lock(&registry_lock);
	resp->sessions = nsessions;
	for (struct zxd_session *s = sessions; s; s = s->next) {
		struct kb_table_stats st;
		kb_table_get_stats(s->table, &st);
		resp->guests += st.guests;
		resp->vcpus += st.vcpus;
		struct kb_vcpu_stats vs[64];
		size_t n = kb_table_vcpu_stats(s->table, vs, 64);
		n = n < 64 ? n : 64;
		if (n == 0)
			continue; /* realloc(p, 0) would free the array */
		Zxvm__V1__VcpuStats **arr = realloc(resp->vcpu, (resp->n_vcpu + n) * sizeof(*arr));
		if (!arr)
			break;
		resp->vcpu = arr;
		for (size_t i = 0; i < n; i++) {
			Zxvm__V1__VcpuStats *e = vcpu_entry(s, &vs[i]);
			if (e)
				resp->vcpu[resp->n_vcpu++] = e;
		}
	}
	pthread_mutex_unlock(&registry_lock);
}
