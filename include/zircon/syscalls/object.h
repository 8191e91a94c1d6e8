/* zx_object_get_info() topics and records zxvm answers (spec §1.9, §4). */
#pragma once

#include <zircon/types.h>

/* Newer topics carry a record version in the top four bits, so a changed record gets a new
 * topic number instead of silently changing size. */
#define __ZX_INFO_TOPIC(t, v) ((zx_object_info_topic_t)((t) | ((v) << 28)))

#define ZX_INFO_HANDLE_VALID ((zx_object_info_topic_t)1u)
#define ZX_INFO_HANDLE_BASIC ((zx_object_info_topic_t)2u) /* zx_info_handle_basic_t[1] */
#define ZX_INFO_VMAR ((zx_object_info_topic_t)7u) /* zx_info_vmar_t[1] */
#define ZX_INFO_VMO __ZX_INFO_TOPIC(23u, 1u)
#define ZX_INFO_GUEST_STATS ((zx_object_info_topic_t)29u)
#define ZX_INFO_VCPU ((zx_object_info_topic_t)32u) /* zx_info_vcpu_t[1] */

/* 32 bytes on every architecture. */
typedef struct zx_info_handle_basic {
	zx_koid_t koid;
	zx_rights_t rights;
	zx_obj_type_t type;
	zx_koid_t related_koid;
	uint32_t reserved;
	uint8_t padding1[4];
} zx_info_handle_basic_t;

typedef struct zx_info_vmar {
	uintptr_t base;
	size_t len;
} zx_info_vmar_t;

typedef struct zx_info_vcpu {
	/* Bitwise OR of ZX_INFO_VCPU_FLAG_* values. */
	uint32_t flags;
} zx_info_vcpu_t;

/* Set from zx_vcpu_kick() until the next zx_vcpu_enter() consumes the kick. */
#define ZX_INFO_VCPU_FLAG_KICKED ((uint32_t)(1u << 0))
