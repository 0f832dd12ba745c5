-- Scenario 5's SQL alone, for GET /api/orders?status=pending&limit=50: the newest page of
-- pending orders (one more row than shown), then the lines of the 50 shown, as in
-- list_customer.sql.
SELECT id, number, customer_id, status, strategy, created, processed, currency, shipping_address, note, extra, total, payment_flow, paid, refunded, fulfilled, delivered, cancelled, carrier, tracking_number, cancel_reason FROM orders WHERE status = 'pending' ORDER BY created DESC, id DESC LIMIT 51;
SELECT id, order_id, product_id, product_name, sku, unit_price, quantity_ordered, quantity, line_total, quantity_returned, quantity_restocked, extra FROM order_lines WHERE order_id IN (SELECT id FROM orders WHERE status = 'pending' ORDER BY created DESC, id DESC LIMIT 50) ORDER BY order_id, id;
