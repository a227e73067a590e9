"""The shared fixtures start real servers that answer."""

import psycopg2
import redis


def test_postgres_database_is_real_and_empty(postgres_database: str) -> None:
    conn = psycopg2.connect(postgres_database)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        assert cur.fetchone() == (0,)
        cur.execute("SHOW server_version_num")
        row = cur.fetchone()
        assert row is not None and int(row[0]) >= 150000
    conn.close()


def test_redis_is_real_and_flushed(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.ping()
    assert client.dbsize() == 0
    client.set("k", "v")
    assert client.get("k") == b"v"
