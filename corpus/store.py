"""The SQLite store holding parsed articles and their paragraphs.

One file (by default in the user's data directory) keeps everything, so the
corpus survives between runs and can be shared by the CLI and the bot. Each
article add or remove is one transaction: a crash or a bad article never
leaves half an article behind.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import platformdirs

from articlebot.corpus.errors import AmbiguousId, ArticleNotFound, IdCollision, StoreError, StoreNotFound
from articlebot.corpus.models import Article, ArticleSummary, Paragraph, StoreStats

SCHEMA_VERSION = 1
MIN_PREFIX = 4  # shorter prefixes match too much to be a safe way to name an article

AddStatus = Literal["added", "unchanged", "replaced"]

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE articles (
    id TEXT PRIMARY KEY,
    title TEXT,
    original_title TEXT,
    published TEXT,
    author TEXT,
    reporter TEXT,
    categories TEXT,
    tags TEXT,
    url TEXT,
    source_path TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    parser_version INTEGER NOT NULL,
    added_at TEXT NOT NULL
);
CREATE INDEX articles_source_path ON articles(source_path);
-- AUTOINCREMENT: a pid is never reused, so a search index keyed by pid
-- can never point at a different paragraph than the one it indexed.
CREATE TABLE paragraphs (
    pid INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    section TEXT,
    text TEXT NOT NULL,
    UNIQUE (article_id, idx)
);
"""

# Summary columns plus a paragraph count computed in SQL, without loading paragraphs.
_SUMMARY_SELECT = """
SELECT a.id, a.title, a.published, a.author, a.source_path, a.added_at,
       (SELECT count(*) FROM paragraphs p WHERE p.article_id = a.id), a.url
FROM articles a
"""


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("articlebot")) / "articlebot.db"


def resolve_db_path(cli_value: str | None, env: Mapping[str, str] | None = None) -> Path:
    """The `--db` value, else $ARTICLEBOT_DB (when non-empty), else the default path."""
    env = os.environ if env is None else env
    if cli_value:
        return Path(cli_value).expanduser()
    if env.get("ARTICLEBOT_DB"):
        return Path(env["ARTICLEBOT_DB"]).expanduser()
    return default_db_path()


def unusable_because(path: Path) -> str | None:
    """Why SQLite cannot open `path` for reading and writing, when the file system
    tells: a missing directory, a directory in its place, a permission; else None."""
    parent = path.parent
    if path.is_dir():
        return "it is a directory"
    if not parent.exists():
        return f"the directory {parent} does not exist"
    if not parent.is_dir():
        return f"{parent} is not a directory"
    try:
        if os.statvfs(parent).f_flag & os.ST_RDONLY:
            return f"the directory {parent} is on a read-only file system"
    except OSError:
        pass
    if not path.exists():
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"permission denied: cannot create a file in the directory {parent}"
        return None
    if not os.access(path, os.R_OK | os.W_OK):
        return f"permission denied on the file {path} (it must be readable and writable)"
    if not os.access(parent, os.W_OK | os.X_OK):
        # WAL mode keeps two files beside the store, made when it is opened
        return f"permission denied on the directory {parent} (SQLite creates {path.name}-wal and -shm there)"
    return None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _summary(row: tuple) -> ArticleSummary:
    id_, title, published, author, source_path, added_at, count, url = row
    return ArticleSummary(
        id=id_,
        title=title,
        published=_parse_time(published),
        author=author,
        paragraph_count=count,
        source_path=source_path,
        added_at=datetime.fromisoformat(added_at),
        url=url,
    )


class Store:
    """An open articlebot store. Build it with `Store.open(path)` or `Store.memory()`."""

    def __init__(self, conn: sqlite3.Connection, path: str):
        self._conn = conn
        self.path = path

    # --- opening -----------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike, create: bool = True) -> Store:
        """Open the store at `path`; any failure is a StoreError naming it.

        create=True makes the store (and its directory) when missing; create=False, for
        commands that only read, creates nothing and raises StoreNotFound instead."""
        p = Path(path).expanduser()
        if p.is_dir():
            raise StoreError(f"cannot open store {p}: it is a directory")
        if not create:
            if not p.exists():
                raise StoreNotFound(f"no store at {p} (articlebot add creates one)")
            # mode=rw: SQLite itself never creates the file, even if it vanishes meanwhile
            return cls._connect(str(p), uri=f"{p.absolute().as_uri()}?mode=rw")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or exc
            raise StoreError(f"cannot open store {p}: cannot create directory {p.parent} ({reason})") from exc
        return cls._connect(str(p))

    @classmethod
    def memory(cls) -> Store:
        """A throw-away store, for tests and one-off runs."""
        return cls._connect(":memory:")

    @classmethod
    def _connect(cls, path: str, uri: str | None = None) -> Store:
        conn = None
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so each
            # article is exactly one transaction.
            conn = sqlite3.connect(uri or path, isolation_level=None, uri=uri is not None)
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")  # readers (the bot) don't block the writer
            conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL, much faster
            store = cls(conn, path)
            store._ensure_schema()
            return store
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            if "not a database" in str(exc):
                raise StoreError(f"cannot open store {path}: it is not an SQLite database") from exc
            # SQLite says only "unable to open database file" or "attempt to write a
            # readonly database": find out why, from the file system.
            why = unusable_because(Path(path)) if path != ":memory:" else None
            raise StoreError(f"cannot open store {path}: {why or exc}") from exc
        except StoreError:  # foreign or newer schema
            if conn is not None:
                conn.close()
            raise

    def _ensure_schema(self) -> None:
        """Create the schema in a new database; refuse foreign or newer ones."""
        with self._transaction():
            tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables:
                # Statement by statement: executescript() would COMMIT our transaction.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                # Identifies this store, so an index saved beside it is never applied to
                # another store that reuses the same path (paragraph ids restart there).
                self._conn.execute("INSERT INTO meta (key, value) VALUES ('store_id', ?)", (uuid.uuid4().hex,))
                return
            row = None
            if "meta" in tables:
                row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                raise StoreError(f"cannot open store {self.path}: it is an SQLite database but not an articlebot store")
            version = int(row[0]) if str(row[0]).isdigit() else -1
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"cannot open store {self.path}: its schema version {version} is newer than "
                    f"this articlebot supports ({SCHEMA_VERSION}); upgrade articlebot"
                )
            if version != SCHEMA_VERSION:
                raise StoreError(f"cannot open store {self.path}: unknown schema version {row[0]!r}")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE takes the write lock up front, so the checks made
        inside the transaction still hold when we write."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:  # SQLite may already have rolled back
                self._conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """One transaction; SQLite failures become a StoreError (the store is as before)."""
        try:
            with self._transaction():
                yield
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {what} in store {self.path}: {exc}") from exc

    # --- writing -----------------------------------------------------------

    def add(self, article: Article, parser_version: int = 1) -> AddStatus:
        """Store `article`; return what happened: "added", "unchanged" or "replaced".

        - Same content already stored by the same or a newer parser: "unchanged",
          nothing is written (re-adding a folder is cheap and idempotent).
        - Same content stored by an older parser: re-parsed output replaces it.
        - Different content at the same source_path: the file was edited, the old
          article(s) at that path are replaced (also when the new content is already
          stored under another path: then only the stale article goes).
        - Different content whose id (a prefix of the content hash) is already taken by
          another article: IdCollision, and the store is left as it was.
        All in one transaction: on any error the store is left as it was and the
        error propagates (SQLite errors as StoreError).
        """
        if article.published is not None and article.published.utcoffset() is None:
            raise ValueError(f"{article.source_path}: published must be timezone-aware")
        conn = self._conn
        with self._writing(f"add article {article.id} ({article.source_path})"):
            same = conn.execute("SELECT parser_version FROM articles WHERE content_hash = ?", (article.content_hash,)).fetchone()
            if same is not None and same[0] >= parser_version:
                # The content is stored (maybe under another path); a different, older
                # article still recorded at this path is now stale: the file was overwritten.
                stale = conn.execute(
                    "DELETE FROM articles WHERE source_path = ? AND content_hash != ?",
                    (article.source_path, article.content_hash),
                ).rowcount
                return "replaced" if stale else "unchanged"
            if same is None:
                # The id is a prefix of the content hash: another content with the same id
                # (not the old version of this very file, replaced below) is a collision.
                # Never drop either one silently: the stored article stays, this add fails.
                clash = conn.execute(
                    "SELECT title, source_path FROM articles WHERE id = ? AND source_path != ?",
                    (article.id, article.source_path),
                ).fetchone()
                if clash is not None:
                    raise IdCollision(
                        f"cannot add {article.source_path}: its id {article.id} is already the id of a different "
                        f"article, '{clash[0]}' from {clash[1]} (ids are the first digits of the SHA-256 of the "
                        "content, and these two differ); nothing was changed"
                    )
            deleted = conn.execute(
                "DELETE FROM articles WHERE content_hash = ? OR source_path = ?",
                (article.content_hash, article.source_path),
            ).rowcount
            self._insert(article, parser_version)
            return "replaced" if deleted else "added"

    def _insert(self, article: Article, parser_version: int) -> None:
        self._conn.execute(
            "INSERT INTO articles (id, title, original_title, published, author, reporter, categories,"
            " tags, url, source_path, content_hash, parser_version, added_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                article.id,
                article.title,
                article.original_title,
                article.published.isoformat() if article.published else None,
                article.author,
                article.reporter,
                json.dumps(list(article.categories), ensure_ascii=False),
                json.dumps(list(article.tags), ensure_ascii=False),
                article.url,
                article.source_path,
                article.content_hash,
                parser_version,
                datetime.now(UTC).isoformat(),
            ),
        )
        self._conn.executemany(
            "INSERT INTO paragraphs (article_id, idx, section, text) VALUES (?, ?, ?, ?)",
            ((article.id, p.index, p.section, p.text) for p in article.paragraphs),
        )

    def remove(self, id_or_prefix: str) -> ArticleSummary:
        """Delete an article and (by cascade) its paragraphs; return what was removed."""
        with self._writing(f"remove article {id_or_prefix}"):
            summary = self._summary_of(self.resolve_id(id_or_prefix))
            self._conn.execute("DELETE FROM articles WHERE id = ?", (summary.id,))
        return summary

    # --- reading -----------------------------------------------------------

    def resolve_id(self, id_or_prefix: str) -> str:
        """The full id named by `id_or_prefix`: an exact id, else a unique prefix of >= 4 characters."""
        key = id_or_prefix.strip()
        if self._conn.execute("SELECT 1 FROM articles WHERE id = ?", (key,)).fetchone():
            return key
        if len(key) < MIN_PREFIX:
            raise ArticleNotFound(f"no article with id '{key}' (an id prefix needs at least {MIN_PREFIX} characters)")
        rows = self._conn.execute("SELECT id, title FROM articles WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id", (key,)).fetchall()
        if not rows:
            raise ArticleNotFound(f"no article with id '{key}'")
        if len(rows) > 1:
            shown = ", ".join(f"{id_} ({title})" for id_, title in rows[:10])
            more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
            raise AmbiguousId(f"id prefix '{key}' matches {len(rows)} articles: {shown}{more}")
        return rows[0][0]

    def get(self, id_or_prefix: str) -> Article:
        """The full article, paragraphs in index order."""
        article_id = self.resolve_id(id_or_prefix)
        row = self._conn.execute(
            "SELECT id, title, original_title, published, author, reporter, categories, tags, url,"
            " source_path, content_hash FROM articles WHERE id = ?",
            (article_id,),
        ).fetchone()
        paragraphs = tuple(
            Paragraph(article_id=article_id, index=idx, text=text, section=section)
            for idx, section, text in self._conn.execute(
                "SELECT idx, section, text FROM paragraphs WHERE article_id = ? ORDER BY idx", (article_id,)
            )
        )
        id_, title, original_title, published, author, reporter, categories, tags, url, source_path, content_hash = row
        return Article(
            id=id_,
            title=title,
            source_path=source_path,
            content_hash=content_hash,
            paragraphs=paragraphs,
            published=_parse_time(published),
            author=author,
            reporter=reporter,
            categories=tuple(json.loads(categories or "[]")),
            tags=tuple(json.loads(tags or "[]")),
            url=url,
            original_title=original_title,
        )

    def _summary_of(self, article_id: str) -> ArticleSummary:
        return _summary(self._conn.execute(_SUMMARY_SELECT + " WHERE a.id = ?", (article_id,)).fetchone())

    def list_articles(self) -> list[ArticleSummary]:
        """All articles, newest published first (undated last), then by title.

        julianday() compares instants, so dates written with different UTC
        offsets still sort correctly (plain text order would not).
        """
        rows = self._conn.execute(_SUMMARY_SELECT + " ORDER BY a.published IS NULL, julianday(a.published) DESC, a.title, a.id")
        return [_summary(r) for r in rows]

    def stats(self) -> StoreStats:
        articles = len(self)
        paragraphs, characters = self._conn.execute("SELECT count(*), coalesce(sum(length(text)), 0) FROM paragraphs").fetchone()
        last = self._conn.execute(_SUMMARY_SELECT + " ORDER BY a.added_at DESC, a.rowid DESC LIMIT 1").fetchone()
        return StoreStats(
            articles=articles,
            paragraphs=paragraphs,
            characters=characters,
            last_added=_summary(last) if last else None,
            db_path=self.path,
            schema_version=int(self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]),
        )

    def __len__(self) -> int:
        return self._conn.execute("SELECT count(*) FROM articles").fetchone()[0]

    def is_empty(self) -> bool:
        return self._conn.execute("SELECT 1 FROM articles LIMIT 1").fetchone() is None

    def iter_paragraphs(self) -> Iterator[tuple[int, Paragraph]]:
        """Every paragraph with its stable pid, in pid order (for building a search index)."""
        rows = self._conn.execute("SELECT pid, article_id, idx, section, text FROM paragraphs ORDER BY pid")
        for pid, article_id, idx, section, text in rows:
            yield pid, Paragraph(article_id=article_id, index=idx, text=text, section=section)

    # --- for the search index ----------------------------------------------------

    def paragraphs_after(self, pid: int) -> Iterator[tuple[int, str, str | None, str]]:
        """(pid, article title, section, text) of every paragraph whose pid is above
        `pid`, in pid order.

        pids only grow (AUTOINCREMENT), so this is exactly what an index built up to
        `pid` lacks."""
        yield from self._conn.execute(
            "SELECT p.pid, a.title, p.section, p.text FROM paragraphs p JOIN articles a ON a.id = p.article_id"
            " WHERE p.pid > ? ORDER BY p.pid",
            (pid,),
        )

    @property
    def store_id(self) -> str:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
        return row[0] if row else ""

    def paragraph_count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM paragraphs").fetchone()[0]

    def paragraph_pids(self) -> list[int]:
        return [row[0] for row in self._conn.execute("SELECT pid FROM paragraphs ORDER BY pid")]

    def change_marker(self) -> tuple[int, int, int]:
        """Changes whenever paragraphs are added or removed, by this or another process."""
        count, top = self._conn.execute("SELECT count(*), coalesce(max(pid), 0) FROM paragraphs").fetchone()
        return self._conn.execute("PRAGMA data_version").fetchone()[0], count, top

    def paragraphs_by_pid(self, pids: list[int]) -> dict[int, tuple[Paragraph, ArticleSummary]]:
        """The paragraphs with these pids and a summary of their articles (missing pids
        left out). One query per chunk, so an article another process removes meanwhile
        is either wholly there or wholly absent."""
        found: dict[int, tuple[Paragraph, ArticleSummary]] = {}
        summaries: dict[str, ArticleSummary] = {}
        for start in range(0, len(pids), 500):  # stay under SQLite's host-parameter limit
            chunk = pids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                "SELECT p.pid, p.idx, p.section, p.text, a.id, a.title, a.published, a.author, a.source_path,"
                " a.added_at, (SELECT count(*) FROM paragraphs c WHERE c.article_id = a.id), a.url"
                f" FROM paragraphs p JOIN articles a ON a.id = p.article_id WHERE p.pid IN ({marks})",
                chunk,
            ).fetchall()
            for pid, idx, section, text, *article in rows:
                if article[0] not in summaries:
                    summaries[article[0]] = _summary(tuple(article))
                summary = summaries[article[0]]
                found[pid] = (Paragraph(article_id=summary.id, index=idx, text=text, section=section), summary)
        return found
