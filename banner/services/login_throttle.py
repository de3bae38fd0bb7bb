"""Slowing down whoever guesses staff passwords, without locking the owner out.

Every wrong password or code is kept for an hour, by account (the e-mail as typed) and address.
Three rules decide how long the next attempt must wait after the latest failure:

- one account from one address: 3 failures are free, then each attempt waits 2^n seconds
  (n failures), at most 15 minutes;
- one account from every address: past 10 failures, attempts from addresses the account has not
  logged in from lately wait 2^(n - 9) seconds, at most a minute: a guesser with many addresses
  is slowed, but the owner is never kept out for long, and not at all from their usual address;
- one address for every account: past 30 failures, 2^(n - 29) seconds, at most 15 minutes.

A success forgets that account's failures from that address. Failures are counted in Redis when
BANNER_REDIS_URL is set, else in the database: either way every worker and instance shares them.
An attempt is counted before its password is checked (and forgotten if it was right), so that
many attempts sent at once are all counted.
"""

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
import sqlalchemy as sa
from flask import current_app

from banner.extensions import db
from banner.models import AuditEntry, LoginFailure, utcnow

WINDOW = timedelta(hours=1)
#: how long after a login an address counts as the account's usual one
USUAL_ADDRESS = timedelta(days=30)


@dataclass(frozen=True)
class Rule:
    free: int  #: failures allowed before attempts wait
    first: int  #: the first wait is 2^first seconds, each further failure doubles it
    cap: int  #: seconds, the longest wait

    def delay(self, failures: int) -> int:
        """Seconds to wait after the latest of `failures`."""
        if failures < self.free:
            return 0
        return min(2 ** (failures - self.free + self.first), self.cap)


PER_ACCOUNT_AND_ADDRESS = Rule(free=3, first=3, cap=15 * 60)
PER_ACCOUNT = Rule(free=10, first=1, cap=60)
PER_ADDRESS = Rule(free=30, first=1, cap=15 * 60)


@dataclass(frozen=True)
class Counts:
    failures: int
    latest: datetime | None


def wait_seconds(account: str, ip: str) -> int:
    """Return how many seconds an attempt on `account` from `ip` must wait (0: it may go ahead)."""
    now = utcnow()
    store = _store()
    waits = [
        _remaining(PER_ACCOUNT_AND_ADDRESS, store.counts(now, account=account, ip=ip), now),
        _remaining(PER_ADDRESS, store.counts(now, ip=ip), now),
    ]
    if not _usual_address(account, ip, now):
        waits.append(_remaining(PER_ACCOUNT, store.counts(now, account=account), now))
    return max(waits)


def count_attempt(account: str, ip: str) -> None:
    """Count an attempt as a failure until `forget_failures` says it was right."""
    _store().add(utcnow(), account, ip)


def forget_failures(account: str, ip: str) -> None:
    """Forget the failures of `account` from `ip`, after a successful login from there."""
    _store().forget(account, ip)


def _remaining(rule: Rule, counts: Counts, now: datetime) -> int:
    if counts.latest is None:
        return 0
    ready = counts.latest + timedelta(seconds=rule.delay(counts.failures))
    return max(0, math.ceil((ready - now).total_seconds()))


def _usual_address(account: str, ip: str, now: datetime) -> bool:
    """Whether `account` logged in from `ip` lately (the audit log remembers)."""
    query = sa.select(AuditEntry.id).where(
        AuditEntry.action == "login",
        AuditEntry.actor_email == account,
        AuditEntry.ip == ip,
        AuditEntry.created_at > now - USUAL_ADDRESS,
    )
    return db.session.scalar(query.limit(1)) is not None


def _store():
    url = current_app.config["REDIS_URL"]
    return RedisFailures(url) if url else DatabaseFailures()


class DatabaseFailures:
    """Failures as rows of login_failures, shared by every worker using the database."""

    def counts(self, now: datetime, *, account: str | None = None, ip: str | None = None) -> Counts:
        query = sa.select(sa.func.count(LoginFailure.id), sa.func.max(LoginFailure.failed_at)).where(
            LoginFailure.failed_at > now - WINDOW
        )
        if account is not None:
            query = query.where(LoginFailure.account == account)
        if ip is not None:
            query = query.where(LoginFailure.ip == ip)
        failures, latest = db.session.execute(query).one()
        return Counts(failures, latest)

    def add(self, now: datetime, account: str, ip: str) -> None:
        db.session.execute(sa.delete(LoginFailure).where(LoginFailure.failed_at <= now - WINDOW))
        db.session.add(LoginFailure(account=account, ip=ip, failed_at=now))
        db.session.commit()

    def forget(self, account: str, ip: str) -> None:
        db.session.execute(
            sa.delete(LoginFailure).where(LoginFailure.account == account, LoginFailure.ip == ip)
        )
        db.session.commit()


class RedisFailures:
    """Failures as sorted sets (member: a random id, score: the time), shared through Redis."""

    PREFIX = "banner:login-failures:"

    def __init__(self, url: str):
        clients = current_app.extensions.setdefault("login_throttle_redis", {})
        if url not in clients:
            clients[url] = redis.Redis.from_url(url)
        self.redis = clients[url]

    def _key(self, account: str | None, ip: str | None) -> str:
        if account is not None and ip is not None:
            return f"{self.PREFIX}pair:{account}\n{ip}"
        return f"{self.PREFIX}account:{account}" if account is not None else f"{self.PREFIX}ip:{ip}"

    def counts(self, now: datetime, *, account: str | None = None, ip: str | None = None) -> Counts:
        key = self._key(account, ip)
        pipe = self.redis.pipeline()
        pipe.zremrangebyscore(key, "-inf", (now - WINDOW).timestamp())
        pipe.zcard(key)
        pipe.zrange(key, -1, -1, withscores=True)
        _, failures, latest = pipe.execute()
        return Counts(failures, datetime.fromtimestamp(latest[0][1], now.tzinfo) if latest else None)

    def add(self, now: datetime, account: str, ip: str) -> None:
        member = secrets.token_hex(8)
        seconds = int(WINDOW.total_seconds())
        pipe = self.redis.pipeline()
        for key in (self._key(account, ip), self._key(account, None), self._key(None, ip)):
            pipe.zadd(key, {member: now.timestamp()})
            pipe.expire(key, seconds)
        pipe.execute()

    def forget(self, account: str, ip: str) -> None:
        pair = self._key(account, ip)
        members = self.redis.zrange(pair, 0, -1)
        pipe = self.redis.pipeline()
        if members:
            pipe.zrem(self._key(account, None), *members)
            pipe.zrem(self._key(None, ip), *members)
        pipe.delete(pair)
        pipe.execute()
