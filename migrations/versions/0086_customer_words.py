"""customer words: each word of what the search matches of a customer, with the customer, in the words' order

Revision ID: 0086
Revises: 0085
Create Date: 2026-11-29 04:00:00.000000

The search's trigram candidates grow with the customers when their names share words ("Customer …", "PT …", "Công ty
TNHH …"): no part of a trigram index can be passed over when every row holds the trigrams typed. ``customer_words``
holds each word of a customer's code, name, contact person, e-mail and phone, folded as the search folds them
(``search_folded``) and split where a letter or a digit is not (``search_words(text)``, the one definition, read for
what is typed too), with the customer's id, in a btree in the words' byte order (``COLLATE "C"``): the customers
holding a word, or a word beginning with what was typed, are a range of it, counted and read up to a bound however
many customers there are. The search's candidates are the customers of the rarest word typed (``services.search``).

A word typed with a slip is no customer's: ``customer_vocabulary`` holds every word of letters alone those columns have
held (a number, a code or a phone is found by its beginning), with a GIN index of their trigrams, which finds the words
like what was typed: the likest is read in its place. Words of letters are the language's, fewer than the customers;
a word no customer holds any more stays, finding none. It has no unique key: a writer adds the words it does not see,
and never waits for another writer's new word (with one, two imports adding each other's new words in opposite orders
deadlock); two adding the same new word at once both add it, which the search reads once. (A GiST index of a table newer than ``pg_trgm``, which would
give them in order of likeness, makes PostgreSQL 15 fail to drop the schema with the extension in it: "cache lookup
failed for function", the opclass's options function dropped before the index.)

The database keeps them, with every write of those columns (a form, an import, the API, SQL): a row trigger on
``INSERT`` and on ``UPDATE OF`` those columns writes a customer's words anew; a customer's words go with it (``ON DELETE
CASCADE``). A charge, which writes a customer's balance and not those columns, does not fire it. One writer,
``customer_words_write(ids)``, serves the trigger, this migration and the fix of the nightly's ``customer_words``
check; ``customer_words_of(customer)`` is a customer's words, and ``customer_words_wrong(customer)`` how many of the
words kept for it are missing or stray (the check's, which finds what was written with the triggers off or by hand).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0086"
down_revision = "0085"
branch_labels = None
depends_on = None

WORDED = ("code", "name", "contact_person", "email", "phone")
"""The customer's columns the search matches (``services.search.customers``)."""


def upgrade():
    op.execute(
        "CREATE FUNCTION search_words(text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
        "SET search_path FROM CURRENT AS $$ SELECT ARRAY(SELECT DISTINCT word "
        "FROM regexp_split_to_table(search_folded($1), '[^[:alnum:]]+') AS word WHERE word <> '' ORDER BY word) $$"
    )
    op.create_table(
        "customer_words",
        sa.Column("word", sa.Text(collation="C"), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("word", "customer_id"),
    )
    op.create_index("ix_customer_words_customer_id", "customer_words", ["customer_id"])
    op.create_table("customer_vocabulary", sa.Column("word", sa.Text(collation="C"), nullable=False))
    op.create_index("ix_customer_vocabulary_word", "customer_vocabulary", ["word"])
    op.create_index(
        "ix_customer_vocabulary_search",
        "customer_vocabulary",
        [sa.text("lower(word) gin_trgm_ops")],
        postgresql_using="gin",
    )
    held = "concat_ws(' ', " + ", ".join(f"c.{column}" for column in WORDED) + ")"
    op.execute(
        "CREATE FUNCTION customer_words_of(c customers) RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE "
        f"SET search_path FROM CURRENT AS $$ SELECT search_words({held}) $$"
    )
    op.execute(
        "CREATE FUNCTION customer_words_write(ids integer[]) RETURNS void LANGUAGE sql "
        "SET search_path FROM CURRENT AS $$ "
        "DELETE FROM customer_words WHERE customer_id = ANY(ids); "
        "INSERT INTO customer_words (word, customer_id) "
        "SELECT word, c.id FROM customers c, unnest(customer_words_of(c)) AS word WHERE c.id = ANY(ids); "
        "INSERT INTO customer_vocabulary (word) SELECT DISTINCT written.word "
        "FROM customers c, unnest(customer_words_of(c)) AS written (word) "
        "WHERE c.id = ANY(ids) AND written.word !~ '[[:digit:]]' "  # letters alone
        "AND NOT EXISTS (SELECT FROM customer_vocabulary known WHERE known.word = written.word) $$"
    )
    op.execute(
        "CREATE FUNCTION customer_words_wrong(c customers) RETURNS integer LANGUAGE sql STABLE PARALLEL SAFE "
        "SET search_path FROM CURRENT AS $$ SELECT count(*)::integer "
        "FROM (SELECT word FROM customer_words WHERE customer_id = c.id) AS kept "
        "FULL JOIN unnest(customer_words_of(c)) AS expected (word) ON kept.word = expected.word "
        "WHERE kept.word IS NULL OR expected.word IS NULL $$"
    )
    op.execute(
        "CREATE FUNCTION customer_words_kept() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$ "
        "BEGIN PERFORM customer_words_write(ARRAY[NEW.id]); RETURN NULL; END $$"
    )
    columns = ", ".join(WORDED)
    changed = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in WORDED)
    op.execute(
        "CREATE TRIGGER customers_worded_insert AFTER INSERT ON customers "
        "FOR EACH ROW EXECUTE FUNCTION customer_words_kept()"
    )
    op.execute(
        f"CREATE TRIGGER customers_worded_update AFTER UPDATE OF {columns} ON customers "
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION customer_words_kept()"
    )
    op.execute("SELECT customer_words_write(ARRAY(SELECT id FROM customers))")
    op.execute("ANALYZE customer_words")
    op.execute("ANALYZE customer_vocabulary")


def downgrade():
    op.execute("DROP TRIGGER customers_worded_update ON customers")
    op.execute("DROP TRIGGER customers_worded_insert ON customers")
    op.execute("DROP FUNCTION customer_words_kept()")
    op.execute("DROP FUNCTION customer_words_wrong(customers)")
    op.execute("DROP FUNCTION customer_words_write(integer[])")
    op.execute("DROP FUNCTION customer_words_of(customers)")
    op.drop_table("customer_vocabulary")
    op.drop_table("customer_words")
    op.execute("DROP FUNCTION search_words(text)")
