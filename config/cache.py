"""Django's Redis cache, with one redis-py client per connection pool instead of one per cache call."""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    """Django's client builds a new `redis.Redis` for every cache call, and each one fills a table of some 170 reply
    callbacks: for the throttle's counter and the outbox wake-up that was 4% of a lead's CPU at intake. A `redis.Redis`
    holds nothing but its pool and is safe to share between threads, so one per pool does."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))  # pools live as long as this object: their ids are stable
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class ReusedClientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient

    def incr_with_expiry(self, key, timeout: int, version=None) -> int:
        """Add one to a counter (a missing one starts at 1) and set it to expire in `timeout` seconds, in one round
        trip: INCR and EXPIRE pipelined. Django's `incr` asks EXISTS first and refuses a missing key."""
        key = self.make_and_validate_key(key, version=version)
        pipe = self._cache.get_client(key, write=True).pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, timeout)
        return pipe.execute()[0]
