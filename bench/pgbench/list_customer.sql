-- Scenario 5's SQL alone, for GET /api/orders?customer_id=…&limit=50: the page of a
-- random customer's orders newest first (one more row than shown, to know whether a next
-- page exists), then the lines of the 50 shown, with the columns ordermill reads. The
-- lines' statement finds its orders with a subquery on the same index where ordermill
-- sends their ids. Variables: customers.
\set c random(1, :customers)
SELECT id, number, customer_id, status, strategy, created, processed, currency, shipping_address, note, extra, total, payment_flow, paid, refunded, fulfilled, delivered, cancelled, carrier, tracking_number, cancel_reason FROM orders WHERE customer_id = :c ORDER BY created DESC, id DESC LIMIT 51;
SELECT id, order_id, product_id, product_name, sku, unit_price, quantity_ordered, quantity, line_total, quantity_returned, quantity_restocked, extra FROM order_lines WHERE order_id IN (SELECT id FROM orders WHERE customer_id = :c ORDER BY created DESC, id DESC LIMIT 50) ORDER BY order_id, id;
