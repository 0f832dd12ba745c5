-- Reference for processing a pending order: the transaction one would write by hand for
-- the job, on the next id from bench_process_seq (each pending order once). Lock the
-- order; read its lines, locking their products in id order; take the stock, each only if
-- enough is left (`stock >= q`); set the lines' quantities and totals; mark the order
-- processed and paid; charge the customer's balance with one ledger entry; one timeline
-- event and one outbox row (`order.processed`) for delivery.
SELECT nextval('bench_process_seq') AS oid \gset
BEGIN;
SELECT customer_id AS c, total FROM orders WHERE id = :oid AND status = 'pending' FOR NO KEY UPDATE \gset
SELECT p.id, p.stock, l.quantity_ordered, l.unit_price FROM order_lines l JOIN products p ON p.id = l.product_id WHERE l.order_id = :oid ORDER BY p.id FOR NO KEY UPDATE OF p;
UPDATE products p SET stock = p.stock - l.q, updated = now() FROM (SELECT product_id, sum(quantity_ordered) AS q FROM order_lines WHERE order_id = :oid GROUP BY product_id) l WHERE p.id = l.product_id AND p.stock >= l.q;
UPDATE order_lines SET quantity = quantity_ordered, line_total = quantity_ordered * unit_price WHERE order_id = :oid;
UPDATE orders SET status = 'processed', processed = now(), strategy = 'adjust', payment_flow = 'balance', paid = total WHERE id = :oid;
UPDATE customers SET balance = balance - :total, updated = now() WHERE id = :c RETURNING balance AS bal \gset
\set neg -1 * :total
INSERT INTO ledger_entries (customer_id, at, kind, amount, balance_after, order_id, reason, actor) VALUES (:c, now(), 'charge', :neg, :bal, :oid, 'pgbench', 'pgbench');
INSERT INTO order_events (order_id, at, kind, actor, visibility, detail) VALUES (:oid, now(), 'processed', 'pgbench', 'customer', '{}');
INSERT INTO outbox_events (type, order_id, data, created) VALUES ('order.processed', :oid, '{}'::jsonb, now());
END;
