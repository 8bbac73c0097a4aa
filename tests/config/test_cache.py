"""The Redis cache backend: Django's behaviour, with one client per connection pool instead of one per call."""

import threading

from django.core.cache import cache, caches

from config.cache import ReusedClientRedisCache


def test_the_cache_is_redis_and_keeps_one_client_per_pool():
    backend = caches["default"]
    assert isinstance(backend, ReusedClientRedisCache)
    first = backend._cache.get_client("a", write=True)
    assert backend._cache.get_client("b", write=False) is first  # one server: reads and writes share the pool


def test_it_behaves_as_djangos_redis_cache_across_threads():
    assert cache.add("counter", 0, timeout=30) and not cache.add("counter", 5, timeout=30)

    def bump():
        for _ in range(50):
            cache.incr("counter")

    threads = [threading.Thread(target=bump) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert cache.get("counter") == 200
    cache.delete("counter")
    assert cache.get("counter") is None and cache.get_many(["counter", "missing"]) == {}
