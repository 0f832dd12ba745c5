"""The first round's figures, shown in the results table's "before" column."""

from __future__ import annotations

# The first round's figures, from the results block of docs/PERFORMANCE.md measured
# 2026-12-02 with `make bench` (13.9 minutes; scenarios 9-11 and 12 from the separate runs
# that block names), keyed by (scenario, what) as that table printed them, with the ratio
# and what it was of then (some references have changed since).
BEFORE: dict[tuple[str, str], str] = {
    (
        "1. Place order over HTTP (PostgreSQL, 2 workers)",
        "POST /api/orders, 3 random lines of 10,000 products",
    ): "314 orders/s (p50 47.5 ms, p99 132.1 ms); 13% of 2,374 tx/s",
    (
        "2. Place + process on 3 hot products",
        "POST /api/orders with process: true, same 3 products",
    ): "128 orders/s (p50 110.3 ms, p99 478.6 ms); 19% of 674 tx/s",
    (
        "3. Process order over HTTP (PostgreSQL, 2 workers)",
        "PUT /api/orders/{id} {process: true}, each pending order once",
    ): "236 orders/s (p50 65.9 ms, p99 172.5 ms); 58% of 404 tx/s",
    (
        "8. Scale-out on one box (scenario 1)",
        "1 worker vs 2 workers",
    ): "233 vs 314 orders/s (p50 65.0 ms, p99 151.7 ms); x1.35",
    (
        "4. Bulk processing (PostgreSQL)",
        "ordermill orders process --all-pending, 100,000 pending",
    ): "2,369 orders/s (100,000 in 42 s); 587% of 404 tx/s (scenario 3)",
    (
        "5. Listing, 1,000,000 orders",
        "GET /api/orders?customer_id=…&limit=50",
    ): "p50 79.3 ms, p99 220.9 ms (190 req/s); x3.5 of GET /health p50 22.9 ms",
    (
        "5. Listing, 1,000,000 orders",
        "GET /api/orders?status=pending&limit=50",
    ): "p50 69.5 ms, p99 189.1 ms (220 req/s); x3.0 of GET /health p50 22.9 ms",
    (
        "7. Seeding (PostgreSQL)",
        "ordermill seed --batch-size 20000",
    ): "100,000 orders: 14,940 orders/s (6.7 s); 1,000,000 orders: 17,244 orders/s (58.0 s)",
    (
        "7. Export (PostgreSQL)",
        "ordermill orders export --format csv -o FILE",
    ): (
        "100,000: 7.3 s, peak RSS 93 MiB; 1,000,000: 55.8 s (17,917 orders/s),"
        " peak RSS 93 MiB; RSS -0%"
    ),
    (
        "7. Export (PostgreSQL)",
        "ordermill orders export --format jsonl -o FILE",
    ): "100,000: 7.6 s, peak RSS 93 MiB",
    (
        "6. Embedded SQLite, 1 server process",
        "place (POST /api/orders)",
    ): "171 orders/s (p50 90.9 ms, p99 126.6 ms)",
    (
        "6. Embedded SQLite, 1 server process",
        "process (PUT /api/orders/{id})",
    ): "162 orders/s (p50 96.1 ms, p99 184.4 ms)",
    (
        "9. Delivery throughput, one worker (PostgreSQL)",
        "3,000 order.created events to a loopback SMTP sink, concurrency 8",
    ): "241 messages/s",
    (
        "9. Delivery throughput, one worker (PostgreSQL)",
        "3,000 order.created events to a loopback webhook receiver, concurrency 8",
    ): "220 messages/s",
    (
        "10. Commit to delivery at idle (PostgreSQL)",
        "60 orders placed one by one, webhook, 1 worker (LISTEN)",
    ): "p50 11 ms, p99 19 ms",
    (
        "11. The outbox keeps up (PostgreSQL, 2 server workers)",
        "place at full rate, 2 `ordermill worker`s, an email and a webhook per order:"
        " oldest undelivered event",
    ): "at most 4.1 s old (medians of peaks 4.0 s); drained 2.7 s after the load",
    (
        "11. The outbox keeps up (PostgreSQL, 2 server workers)",
        "place rate with the 2 workers delivering vs none running",
    ): "180 vs 346 orders/s; 52%",
    (
        "12. Dashboard, 1,000,000 orders in 60 days (PostgreSQL)",
        "sales per day, last 7 days (104,729 sales)",
    ): "p50 48 ms, p99 68 ms (199 calls); x19.5 of without ix_orders_sales: p50 941 ms",
    (
        "12. Dashboard, 1,000,000 orders in 60 days (PostgreSQL)",
        "top products, last 7 days (104,729 sales)",
    ): "p50 639 ms, p99 837 ms (16 calls); x0.9 of without ix_orders_sales: p50 585 ms",
    (
        "12. Dashboard, 1,000,000 orders in 60 days (PostgreSQL)",
        "sales per day, last 30 days (411,067 sales)",
    ): "p50 204 ms, p99 263 ms (50 calls); x17.4 of without ix_orders_sales: p50 3,542 ms",
    (
        "12. Dashboard, 1,000,000 orders in 60 days (PostgreSQL)",
        "top products, last 30 days (411,067 sales)",
    ): "p50 866 ms, p99 1,169 ms (11 calls); x1.2 of without ix_orders_sales: p50 1,073 ms",
    (
        "12. Dashboard, 1,000,000 orders in 60 days (PostgreSQL)",
        "sales per day, last 90 days (800,000 sales)",
    ): "p50 356 ms, p99 448 ms (28 calls); x25.7 of without ix_orders_sales: p50 9,151 ms",
    (
        "12. Dashboard, 1,000,000 orders in 60 days (PostgreSQL)",
        "top products, last 90 days (800,000 sales)",
    ): "p50 1,395 ms, p99 1,616 ms (7 calls); x1.2 of without ix_orders_sales: p50 1,713 ms",
    (
        "12. Dashboard, 1,000,000 orders in 60 days (PostgreSQL)",
        "orders waiting (counts per status)",
    ): "p50 112 ms, p99 140 ms (90 calls)",
    (
        "12. Dashboard, 1,000,000 orders in 60 days (PostgreSQL)",
        "low stock (10,000 products)",
    ): "p50 5 ms, p99 8 ms (2195 calls)",
    (
        "12. Dashboard, 1,000,000 orders in 60 days (PostgreSQL)",
        "GET /admin?period=30, the whole page, 1 client",
    ): "p50 1,551 ms, p99 1,662 ms (7 calls)",
    (
        "12. Dashboard, 1,000,000 orders over 3 years (PostgreSQL)",
        "sales per day, last 7 days (5,837 sales)",
    ): "p50 7 ms, p99 11 ms (1341 calls)",
    (
        "12. Dashboard, 1,000,000 orders over 3 years (PostgreSQL)",
        "top products, last 7 days (5,837 sales)",
    ): "p50 87 ms, p99 129 ms (113 calls)",
    (
        "12. Dashboard, 1,000,000 orders over 3 years (PostgreSQL)",
        "sales per day, last 30 days (22,902 sales)",
    ): "p50 28 ms, p99 46 ms (350 calls)",
    (
        "12. Dashboard, 1,000,000 orders over 3 years (PostgreSQL)",
        "top products, last 30 days (22,902 sales)",
    ): "p50 160 ms, p99 205 ms (63 calls)",
    (
        "12. Dashboard, 1,000,000 orders over 3 years (PostgreSQL)",
        "sales per day, last 90 days (67,763 sales)",
    ): "p50 58 ms, p99 88 ms (170 calls)",
    (
        "12. Dashboard, 1,000,000 orders over 3 years (PostgreSQL)",
        "top products, last 90 days (67,763 sales)",
    ): "p50 595 ms, p99 719 ms (17 calls)",
    (
        "12. Dashboard, 1,000,000 orders over 3 years (PostgreSQL)",
        "GET /admin?period=30, the whole page, 1 client",
    ): "p50 309 ms, p99 360 ms (33 calls)",
    # Scenario 13 was bench/pipeline.py alone then ("and the token cache" in the
    # request pipeline table of docs/PERFORMANCE.md, 2026-12-02, medians of 3 runs of 10 s).
    (
        "13. Authenticated trivial request (SQLite, 1 server process)",
        "GET /api/auth/whoami with a bearer token",
    ): "3,008 req/s (0.30 ms server CPU/request); 61% of GET /bench/empty 4,562 req/s",
    (
        "13. Authenticated trivial request (PostgreSQL, 1 server process)",
        "GET /api/auth/whoami with a bearer token",
    ): "2,877 req/s (0.32 ms server CPU/request); 53% of GET /bench/empty 5,289 req/s",
}
