"""customer words: a customer's words made once when written

Revision ID: 0097
Revises: 0096
Create Date: 2026-11-29 17:05:00.000000

``customer_words_write`` made each customer's words twice, once for ``customer_words`` and once for the vocabulary;
``customer_words_of`` is not inlined (it keeps its search path), and made 10,000 customers' words in 0.8 s of the
2.3 s their write took. They are made once, in a common table expression both inserts read.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0097"
down_revision = "0096"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "CREATE OR REPLACE FUNCTION customer_words_write(ids integer[]) RETURNS void LANGUAGE sql "
        "SET search_path FROM CURRENT AS $$ "
        "DELETE FROM customer_words WHERE customer_id = ANY(ids); "
        "WITH written AS MATERIALIZED ("
        "SELECT c.id, word FROM customers c, unnest(customer_words_of(c)) AS word WHERE c.id = ANY(ids)), "
        "kept AS (INSERT INTO customer_words (word, customer_id) SELECT word, id FROM written) "
        "INSERT INTO customer_vocabulary (word) SELECT DISTINCT written.word FROM written "
        "WHERE written.word !~ '[[:digit:]]' "  # letters alone
        "AND NOT EXISTS (SELECT FROM customer_vocabulary known WHERE known.word = written.word) $$"
    )


def downgrade():
    op.execute(
        "CREATE OR REPLACE FUNCTION customer_words_write(ids integer[]) RETURNS void LANGUAGE sql "
        "SET search_path FROM CURRENT AS $$ "
        "DELETE FROM customer_words WHERE customer_id = ANY(ids); "
        "INSERT INTO customer_words (word, customer_id) "
        "SELECT word, c.id FROM customers c, unnest(customer_words_of(c)) AS word WHERE c.id = ANY(ids); "
        "INSERT INTO customer_vocabulary (word) SELECT DISTINCT written.word "
        "FROM customers c, unnest(customer_words_of(c)) AS written (word) "
        "WHERE c.id = ANY(ids) AND written.word !~ '[[:digit:]]' "
        "AND NOT EXISTS (SELECT FROM customer_vocabulary known WHERE known.word = written.word) $$"
    )
