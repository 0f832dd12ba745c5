-- Ceiling for processing a pending order: the statements `ordermill` runs on PostgreSQL
-- to process one order, on the next id from bench_process_seq. Lock the order, its
-- customer and its lines (reading them), lock its products in id order, then one
-- statement of data-modifying CTEs: take the stock, mark the order processed and paid,
-- charge the customer, and record the ledger entry, the payment, the two timeline
-- events and the audit entry. The suite measures scenario 3 against process_ref.sql (the
-- transaction written for the job); this one is for profiling ordermill's own statements
-- (`pgbench -r`).
SELECT nextval('bench_process_seq') AS oid \gset
BEGIN;
SELECT o.id, o.status, o.number, c.balance, l.id, l.product_id, l.quantity_ordered, l.unit_price FROM orders o JOIN customers c ON c.id = o.customer_id JOIN order_lines l ON l.order_id = o.id WHERE o.id = :oid ORDER BY l.id FOR NO KEY UPDATE OF o, c, l;
SELECT id, stock FROM products WHERE id IN (SELECT product_id FROM order_lines WHERE order_id = :oid) ORDER BY id FOR NO KEY UPDATE;
WITH stock AS (UPDATE products p SET stock = p.stock - l.q, updated = now() FROM (SELECT product_id, sum(quantity_ordered) AS q FROM order_lines WHERE order_id = :oid GROUP BY product_id) l WHERE p.id = l.product_id AND p.stock >= l.q RETURNING p.id), marked AS (UPDATE orders SET status = 'processed', processed = now(), strategy = 'adjust', payment_flow = 'balance', paid = total WHERE id = :oid AND status = 'pending' RETURNING customer_id, total, number), charged AS (UPDATE customers c SET balance = c.balance - m.total, updated = now() FROM marked m WHERE c.id = m.customer_id RETURNING c.id, c.balance), entries AS (INSERT INTO ledger_entries (customer_id, at, kind, amount, balance_after, order_id, reason, actor) SELECT ch.id, now(), 'charge', -m.total, ch.balance, :oid, m.number, 'pgbench' FROM charged ch, marked m), paid AS (INSERT INTO payments (order_id, at, amount, credited, method, actor) SELECT :oid, now(), m.total, 0, 'balance', 'pgbench' FROM marked m), events AS (INSERT INTO order_events (order_id, at, kind, actor, visibility, detail) VALUES (:oid, now(), 'processed', 'pgbench', 'customer', '{}'), (:oid, now(), 'payment', 'pgbench', 'customer', '{}')), audited AS (INSERT INTO audit_log (at, actor, action, entity, entity_id, detail) VALUES (now(), 'pgbench', 'order.processed', 'order', :oid, '{}')) SELECT count(*) FROM stock;
END;
