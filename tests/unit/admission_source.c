// SPDX-License-Identifier: GPL-2.0
/*
 * What max-handshakes-per-source counts as one source: an IPv4 address
 * (the same whether it arrives as IPv4 or v4-mapped IPv6) or an IPv6 /64;
 * and the shared table's take/release arithmetic.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "kselftest_harness.h"
#include "ktlsd.h"

static struct adm_source src4(const char *addr)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(1) };
	struct adm_source s;

	inet_pton(AF_INET, addr, &a.sin_addr);
	admission_source_of((struct sockaddr *)&a, &s);
	return s;
}

static struct adm_source src6(const char *addr)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(1) };
	struct adm_source s;

	inet_pton(AF_INET6, addr, &a.sin6_addr);
	admission_source_of((struct sockaddr *)&a, &s);
	return s;
}

static bool same(struct adm_source a, struct adm_source b)
{
	return a.addr == b.addr && a.v6 == b.v6;
}

TEST(ipv4_address_is_the_source)
{
	EXPECT_TRUE(same(src4("192.0.2.7"), src4("192.0.2.7")));
	EXPECT_FALSE(same(src4("192.0.2.7"), src4("192.0.2.8")));
	/* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d. */
	EXPECT_TRUE(same(src4("192.0.2.7"), src6("::ffff:192.0.2.7")));
	EXPECT_FALSE(src6("::ffff:192.0.2.7").v6);
}

TEST(ipv6_slash_64_is_the_source)
{
	EXPECT_TRUE(same(src6("2001:db8:1:2::1"), src6("2001:db8:1:2:ffff:ffff:ffff:ffff")));
	EXPECT_FALSE(same(src6("2001:db8:1:2::1"), src6("2001:db8:1:3::1")));
	EXPECT_TRUE(src6("2001:db8:1:2::1").v6);
	/* 192.0.2.7 and 0:0:c000:207::/64 must not share a count. */
	EXPECT_FALSE(same(src4("192.0.2.7"), src6("::c000:207:0:0:0")));
}

TEST(take_up_to_the_limit_then_release)
{
	struct adm_source a[3], b = src6("2001:db8:9::1");

	for (int i = 0; i < 3; i++)
		a[i] = src6("2001:db8:7::1");
	EXPECT_EQ(0, admission_source_take(&a[0], 2));
	EXPECT_EQ(0, admission_source_take(&a[1], 2));
	EXPECT_EQ(-1, admission_source_take(&a[2], 2));
	EXPECT_FALSE(a[2].counted);
	EXPECT_EQ(0, admission_source_take(&b, 2));	/* another /64 */
	admission_release(&a[2]);			/* not counted: no-op */
	EXPECT_EQ(-1, admission_source_take(&a[2], 2));
	admission_release(&a[0]);
	EXPECT_FALSE(a[0].counted);
	EXPECT_EQ(0, admission_source_take(&a[2], 2));
	admission_release(&a[1]);
	admission_release(&a[2]);
	admission_release(&b);
	/* Every slot back: the full limit is free again. */
	EXPECT_EQ(0, admission_source_take(&a[0], 2));
	EXPECT_EQ(0, admission_source_take(&a[1], 2));
	admission_release(&a[0]);
	admission_release(&a[1]);
}

TEST_HARNESS_MAIN
