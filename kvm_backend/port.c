/* Ports: FIFO packet queues. User packets are limited per port (ZX_ERR_SHOULD_WAIT past the
 * budget); bell packets come from a trap's own budget of 256 (spec §2.2) and are cancelled
 * when their trap goes away. */
#include <string.h>
#include <time.h>

#include <zircon/errors.h>
#include <zircon/rights.h>

#include "kb-internal.h"

zx_time_t kb_clock_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (zx_time_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void port_destroy(struct kb_object *obj)
{
	struct kb_port *port = (struct kb_port *)obj;
	/* Only user packets can be left: a bell trap holds a reference to its port. */
	for (struct kb_port_packet *p = port->head, *next; p; p = next) {
		next = p->next;
		free(p);
	}
	pthread_mutex_destroy(&port->lock);
	pthread_cond_destroy(&port->readable);
	pthread_cond_destroy(&port->space);
	atomic_fetch_sub(&obj->account->ports, 1);
	free(port);
}

static void port_on_zero_handles(struct kb_object *obj)
{
	/* A VCPU blocked on a full bell budget must see that the port is gone (BAD_STATE). */
	kb__port_wake_space((struct kb_port *)obj);
}

static const struct kb_object_ops port_ops = {
	.on_zero_handles = port_on_zero_handles,
	.destroy = port_destroy,
};

zx_status_t kb_port_create(kb_table *table, uint32_t options, zx_handle_t *out)
{
	if (!out || (options & ~ZX_PORT_BIND_TO_INTERRUPT))
		return ZX_ERR_INVALID_ARGS;
	struct kb_account *account = kb__table_account(table);
	zx_status_t st = kb__account_take(&account->ports, account->limits.max_ports);
	if (st != ZX_OK)
		return st;
	struct kb_port *port = calloc(1, sizeof(*port));
	if (!port) {
		atomic_fetch_sub(&account->ports, 1);
		return ZX_ERR_NO_MEMORY;
	}
	kb__object_init(&port->obj, ZX_OBJ_TYPE_PORT, &port_ops, account);
	pthread_mutex_init(&port->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&port->readable, &attr);
	pthread_cond_init(&port->space, &attr);
	pthread_condattr_destroy(&attr);
	port->max_user_packets = account->limits.max_port_packets;
	return kb__handle_add(table, &port->obj, ZX_DEFAULT_PORT_RIGHTS, out);
}

/* With the lock held. */
static void enqueue_locked(struct kb_port *port, struct kb_port_packet *p)
{
	p->next = NULL;
	if (port->tail)
		port->tail->next = p;
	else
		port->head = p;
	port->tail = p;
	pthread_cond_signal(&port->readable);
}

zx_status_t kb_port_queue(kb_table *table, zx_handle_t handle, const zx_port_packet_t *packet)
{
	struct kb_object *obj;
	zx_status_t st = kb__handle_get(table, handle, ZX_OBJ_TYPE_PORT, ZX_RIGHT_WRITE, &obj, NULL);
	if (st != ZX_OK)
		return st;
	struct kb_port *port = (struct kb_port *)obj;
	struct kb_port_packet *p = packet ? malloc(sizeof(*p)) : NULL;
	if (!packet)
		st = ZX_ERR_INVALID_ARGS;
	else if (!p)
		st = ZX_ERR_NO_MEMORY;
	if (st == ZX_OK) {
		p->packet = *packet;
		p->packet.type = ZX_PKT_TYPE_USER;
		p->origin = NULL;
		pthread_mutex_lock(&port->lock);
		if (port->user_packets >= port->max_user_packets) {
			st = ZX_ERR_SHOULD_WAIT;
		} else {
			port->user_packets++;
			enqueue_locked(port, p);
			p = NULL;
		}
		pthread_mutex_unlock(&port->lock);
	}
	free(p);
	kb__object_unref(obj);
	return st;
}

static struct timespec to_timespec(zx_time_t t)
{
	return (struct timespec){.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};
}

zx_status_t kb_port_wait(kb_table *table, zx_handle_t handle, zx_time_t deadline,
			 zx_port_packet_t *out_packet)
{
	struct kb_object *obj;
	zx_status_t st = kb__handle_get(table, handle, ZX_OBJ_TYPE_PORT, ZX_RIGHT_READ, &obj, NULL);
	if (st != ZX_OK)
		return st;
	if (!out_packet) {
		kb__object_unref(obj);
		return ZX_ERR_INVALID_ARGS;
	}
	struct kb_port *port = (struct kb_port *)obj;
	struct timespec ts = to_timespec(deadline < 0 ? 0 : deadline);
	pthread_mutex_lock(&port->lock);
	while (!port->head && st == ZX_OK) {
		if (deadline == ZX_TIME_INFINITE)
			pthread_cond_wait(&port->readable, &port->lock);
		else if (pthread_cond_timedwait(&port->readable, &port->lock, &ts) == ETIMEDOUT &&
			 !port->head)
			st = ZX_ERR_TIMED_OUT;
	}
	struct kb_port_packet *p = NULL;
	if (st == ZX_OK) {
		p = port->head;
		port->head = p->next;
		if (!port->head)
			port->tail = NULL;
		if (p->origin) {
			p->origin->bells_in_flight--;
			pthread_cond_broadcast(&port->space);
		} else {
			port->user_packets--;
		}
		*out_packet = p->packet;
	}
	pthread_mutex_unlock(&port->lock);
	free(p);
	kb__object_unref(obj);
	return st;
}

zx_status_t kb__port_queue_bell(struct kb_port *port, struct kb_trap *trap,
				const zx_port_packet_t *packet, atomic_bool *cancel)
{
	struct kb_port_packet *p = malloc(sizeof(*p));
	if (!p)
		return ZX_ERR_NO_MEMORY;
	p->packet = *packet;
	p->origin = trap;
	zx_status_t st = ZX_OK;
	pthread_mutex_lock(&port->lock);
	for (;;) {
		/* A bell whose port has no handle left can never be read (spec §2.2). */
		if (atomic_load(&port->obj.handles) == 0) {
			st = ZX_ERR_BAD_STATE;
			break;
		}
		if (trap->dead)
			break; /* the guest is being destroyed: the bell is dropped */
		if (trap->bells_in_flight < KB_BELL_PACKETS_PER_TRAP)
			break;
		/* A kick ends the wait, but KVM already retired the write: queue the bell past the
		 * budget rather than lose the guest's notification. */
		if (atomic_load(cancel)) {
			st = ZX_ERR_CANCELED;
			break;
		}
		port->space_waiters++;
		pthread_cond_wait(&port->space, &port->lock);
		port->space_waiters--;
	}
	if ((st == ZX_OK || st == ZX_ERR_CANCELED) && !trap->dead) {
		trap->bells_in_flight++;
		enqueue_locked(port, p);
		p = NULL;
	}
	pthread_mutex_unlock(&port->lock);
	free(p);
	return st;
}

void kb__port_cancel_trap(struct kb_port *port, struct kb_trap *trap)
{
	pthread_mutex_lock(&port->lock);
	struct kb_port_packet **pp = &port->head, *last = NULL;
	while (*pp) {
		struct kb_port_packet *p = *pp;
		if (p->origin == trap) {
			*pp = p->next;
			free(p);
		} else {
			last = p;
			pp = &p->next;
		}
	}
	port->tail = last;
	trap->bells_in_flight = 0;
	trap->dead = true;
	pthread_cond_broadcast(&port->space);
	pthread_mutex_unlock(&port->lock);
}

void kb__port_wake_space(struct kb_port *port)
{
	pthread_mutex_lock(&port->lock);
	pthread_cond_broadcast(&port->space);
	pthread_mutex_unlock(&port->lock);
}
