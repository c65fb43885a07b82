/*
 * xormask.h: WebSocket (un)masking, RFC 6455 section 5.3.
 *
 *     wsf_xor_mask(src, dst, length, key)
 *
 * writes dst[i] = src[i] ^ key[i % 4] for i in [0, length). src may equal dst
 * (in-place masking); otherwise the two ranges must not overlap. Any
 * alignment and any length are fine, length 0 included.
 *
 * The key cycles every 4 bytes, so it can be widened to 8, 16 or 32 bytes
 * and applied a whole word at a time; a word starting at byte i sees the
 * key rotated by i % 4. Loads and stores go through memcpy (or unaligned
 * SIMD loads), never through a cast pointer, so unaligned buffers are legal
 * C and the compiler still emits single instructions for them.
 *
 * Include this header from Cython with
 *
 *     cdef extern from "xormask.h":
 *         void wsf_xor_mask(const unsigned char *src, unsigned char *dst,
 *                           size_t length, const unsigned char *key) nogil
 */

#ifndef WSF_XORMASK_H
#define WSF_XORMASK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX2__)
#include <immintrin.h>
#define WSF_XORMASK_AVX2 1
#elif (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__) && \
    (defined(__GNUC__) || defined(__clang__)) && !defined(WSF_XORMASK_NO_DISPATCH)
/* Wheels are built for baseline x86-64 (SSE2), yet nearly every machine
   that runs them has AVX2: compile an AVX2 loop anyway and pick it at run
   time when the CPU supports it. */
#include <immintrin.h>
#define WSF_XORMASK_SSE2 1
#define WSF_XORMASK_DISPATCH 1
#elif defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <emmintrin.h>
#define WSF_XORMASK_SSE2 1
#elif defined(__ARM_NEON) || defined(__ARM_NEON__) || defined(_M_ARM64)
#include <arm_neon.h>
#define WSF_XORMASK_NEON 1
#endif

#if defined(WSF_XORMASK_DISPATCH)
/* XOR whole 32-byte blocks with AVX2; returns how many bytes it did.
   key_bytes holds the key, repeated, as seen from src[0] on. */
__attribute__((target("avx2"))) static size_t
wsf_xor_mask_avx2_blocks(const unsigned char *src, unsigned char *dst,
                         size_t length, const unsigned char *key_bytes)
{
    size_t i = 0;
    __m256i key256 = _mm256_loadu_si256((const __m256i *)key_bytes);
    for (; i + 128 <= length; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(src + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(src + i + 96));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, key256));
        _mm256_storeu_si256((__m256i *)(dst + i + 32), _mm256_xor_si256(b, key256));
        _mm256_storeu_si256((__m256i *)(dst + i + 64), _mm256_xor_si256(c, key256));
        _mm256_storeu_si256((__m256i *)(dst + i + 96), _mm256_xor_si256(d, key256));
    }
    for (; i + 32 <= length; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, key256));
    }
    return i;
}
#endif

static inline void
wsf_xor_mask(const unsigned char *src, unsigned char *dst, size_t length,
             const unsigned char key[4])
{
    size_t i = 0;
    size_t j;
    uint64_t key64;
    /* The key repeated nine times: from byte i of the payload on, the key
       reads as key_bytes + (i & 3), for up to 32 bytes. Filled 4 bytes at a
       time: a byte loop cost as much as masking a 64-byte payload. */
    unsigned char key_bytes[36];

    for (j = 0; j < sizeof(key_bytes); j += 4) {
        memcpy(key_bytes + j, key, 4);
    }

    /* On a large buffer, mask a few bytes until dst is 32-byte aligned: a
       vector store that straddles two cache lines costs about two stores,
       and Python's bytes objects keep their data 16 bytes past a 16-byte
       boundary, so half of all 32-byte stores would. */
    if (length >= 256) {
        size_t head = (size_t)((32 - ((uintptr_t)dst & 31)) & 31);
        for (; i + 8 <= head; i += 8) {
            uint64_t word;
            memcpy(&key64, key_bytes + (i & 3), 8);
            memcpy(&word, src + i, 8);
            word ^= key64;
            memcpy(dst + i, &word, 8);
        }
        for (; i < head; i++) {
            dst[i] = src[i] ^ key[i & 3];
        }
    }

#if defined(WSF_XORMASK_AVX2)
    if (length - i >= 32) {
        __m256i key256 = _mm256_loadu_si256((const __m256i *)(key_bytes + (i & 3)));
        for (; i + 128 <= length; i += 128) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
            __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 32));
            __m256i c = _mm256_loadu_si256((const __m256i *)(src + i + 64));
            __m256i d = _mm256_loadu_si256((const __m256i *)(src + i + 96));
            _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, key256));
            _mm256_storeu_si256((__m256i *)(dst + i + 32), _mm256_xor_si256(b, key256));
            _mm256_storeu_si256((__m256i *)(dst + i + 64), _mm256_xor_si256(c, key256));
            _mm256_storeu_si256((__m256i *)(dst + i + 96), _mm256_xor_si256(d, key256));
        }
        for (; i + 32 <= length; i += 32) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
            _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, key256));
        }
    }
#elif defined(WSF_XORMASK_SSE2)
#if defined(WSF_XORMASK_DISPATCH)
    /* Below a few blocks the SSE2 loop is as fast and needs no check. */
    if (length - i >= 256 && __builtin_cpu_supports("avx2")) {
        i += wsf_xor_mask_avx2_blocks(src + i, dst + i, length - i, key_bytes + (i & 3));
    }
#endif
    if (length - i >= 16) {
        __m128i key128 = _mm_loadu_si128((const __m128i *)(key_bytes + (i & 3)));
        /* Four independent 16-byte lanes per round keep the load and store
           ports busy; the loop overhead is paid once per 64 bytes. */
        for (; i + 64 <= length; i += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, key128));
            _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, key128));
            _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, key128));
            _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, key128));
        }
        for (; i + 16 <= length; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, key128));
        }
    }
#elif defined(WSF_XORMASK_NEON)
    if (length - i >= 16) {
        uint8x16_t key128 = vld1q_u8(key_bytes + (i & 3));
        for (; i + 64 <= length; i += 64) {
            uint8x16_t a = vld1q_u8(src + i);
            uint8x16_t b = vld1q_u8(src + i + 16);
            uint8x16_t c = vld1q_u8(src + i + 32);
            uint8x16_t d = vld1q_u8(src + i + 48);
            vst1q_u8(dst + i, veorq_u8(a, key128));
            vst1q_u8(dst + i + 16, veorq_u8(b, key128));
            vst1q_u8(dst + i + 32, veorq_u8(c, key128));
            vst1q_u8(dst + i + 48, veorq_u8(d, key128));
        }
        for (; i + 16 <= length; i += 16) {
            vst1q_u8(dst + i, veorq_u8(vld1q_u8(src + i), key128));
        }
    }
#endif

    /* The portable path, and what is left after the vector loops. */
    memcpy(&key64, key_bytes + (i & 3), 8);
    for (; i + 8 <= length; i += 8) {
        uint64_t word;
        memcpy(&word, src + i, 8);
        word ^= key64;
        memcpy(dst + i, &word, 8);
    }

    for (; i < length; i++) {
        dst[i] = src[i] ^ key[i & 3];
    }
}

#endif /* WSF_XORMASK_H */
