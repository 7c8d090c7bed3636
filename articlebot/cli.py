"""`articlebot` command line: a thin click shell over the library functions.

Every listing command takes --json. User errors print one line on stderr and exit 1
(with --json that line is a JSON object {"error", "kind"}); `add` exits 1 when any
file failed.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from articlebot import __version__
from articlebot.corpus.errors import ArticlebotError, StoreNotFound
from articlebot.corpus.limits import DEFAULT_MAX_BYTES
from articlebot.corpus.models import Article, StoreStats
from articlebot.corpus.store import SCHEMA_VERSION, Store, resolve_db_path

# Heavier modules (the HTML parser, jieba, numba) are imported inside the commands that
# need them, so `articlebot list` or `search` do not pay for what they do not use.

DB_HELP = "SQLite store to use (default: $ARTICLEBOT_DB, else the user data dir)."


def _db_or_group_db(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A command's --db, else the one given before the command (`articlebot --db X list`)."""
    return value if value is not None else ctx.find_root().params.get("db")


db_option = click.option("--db", "db", metavar="PATH", help=DB_HELP, callback=_db_or_group_db)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def user_errors(func):
    """Turn articlebot's named errors into one line on stderr and exit code 1; with
    --json the line is a JSON object: {"error": message, "kind": the error's class}."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (ArticlebotError, click.FileError) as exc:
            message = exc.format_message() if isinstance(exc, click.FileError) else str(exc)
            if kwargs.get("as_json"):
                click.echo(json.dumps({"error": message, "kind": type(exc).__name__}, ensure_ascii=False), err=True)
            else:
                click.echo(f"Error: {message}", err=True)
            sys.exit(1)

    return wrapper


def print_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def db_is_explicit(db: str | None) -> bool:
    """Whether the user named the store (--db or $ARTICLEBOT_DB), not the default location."""
    return bool(db) or bool(os.environ.get("ARTICLEBOT_DB"))


@contextmanager
def open_store(db: str | None, create: bool = True) -> Iterator[Store]:
    """The store; create=False (commands that only read) creates nothing: a missing
    store is a StoreNotFound error."""
    store = Store.open(resolve_db_path(db), create=create)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def open_sample() -> Iterator[Store]:
    from articlebot.corpus.sample import open_sample_store

    sample = open_sample_store()
    try:
        yield sample
    finally:
        sample.close()


def _sample_note(state: str, articles: int | None) -> None:
    click.echo(
        f"Note: {state}, so this shows the bundled sample corpus ({articles} articles). Add your own with: articlebot add PATH",
        err=True,
    )


@contextmanager
def open_corpus(db: str | None) -> Iterator[Store]:
    """The user's store, read-only; or the bundled sample (in memory) when the store is
    empty (corpus.sample.SampleFallback, the policy the bot follows too), or missing at
    the default location. A store named by --db or $ARTICLEBOT_DB that does not exist is
    an error: a typo must not silently show the sample."""
    from articlebot.corpus.sample import SampleFallback

    path = resolve_db_path(db)
    try:
        store = Store.open(path, create=False)
    except StoreNotFound:
        if db_is_explicit(db):
            raise
        with open_sample() as sample:
            _sample_note(f"there is no store at {path} yet", len(sample))
            yield sample
        return
    with store:
        fallback = SampleFallback(store)
        try:
            corpus = fallback.corpus()
            if corpus is not store:
                _sample_note(f"the store {path} is empty", fallback.sample_size)
            yield corpus
        finally:
            fallback.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="articlebot")
@click.option("--db", "db", metavar="PATH", help=DB_HELP + " A command's own --db wins.")
def cli(db: str | None) -> None:
    """articlebot: answers questions about a corpus of articles.

    Articles are cleaned into paragraphs and kept in a SQLite store
    (--db PATH, before or after the command, or $ARTICLEBOT_DB override its location).
    """


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--max-size",
    type=click.FloatRange(min=0.001),
    default=DEFAULT_MAX_BYTES / 1e6,
    show_default=True,
    help="Largest file to read, in MB.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    help="Processes parsing files and tokenizing paragraphs (default: one per CPU core).",
)
@db_option
@json_option
@user_errors
def add(paths: tuple[Path, ...], max_size: float, jobs: int, db: str | None, as_json: bool) -> None:
    """Add article files, or every article file under directories.

    The format is detected from the content: Hexo/Jekyll front matter + HTML or
    markdown, HTML pages, plain text. Adding the same content again changes nothing;
    a file whose content changed replaces its earlier version.
    """

    def progress(files):
        if as_json or len(files) < 20 or not sys.stderr.isatty():
            yield from files
            return
        with click.progressbar(files, label="Adding", file=sys.stderr, show_pos=True) as bar:
            yield from bar

    from articlebot.corpus.ingest import add_paths

    with open_store(db) as store:
        was_empty = store.is_empty()
        jobs = jobs or os.cpu_count() or 1
        report = add_paths(store, paths, max_bytes=int(max_size * 1e6), progress=progress, jobs=jobs)
        # Also when nothing was added: an earlier add may have been stopped before its
        # index update; bringing the index up to date costs nothing when it already is.
        if not store.is_empty():
            update_index(store, jobs)
            if was_empty:
                click.echo(
                    f"Note: the store {store.path} now holds your articles, so the bundled sample is no longer "
                    "used (articlebot eval FILE --sample still evaluates on it).",
                    err=True,
                )
    if as_json:
        print_json(report.to_dict())
    else:
        for failure in report.failed:
            click.echo(f"failed: {failure['path']}: {failure['error']}", err=True)
        click.echo(
            f"{report.added} added, {report.replaced} replaced, {report.unchanged} unchanged, "
            f"{len(report.failed)} failed" + (f", {report.skipped} skipped (not article files)" if report.skipped else "")
        )
    if report.failed:
        sys.exit(1)


@cli.command(name="list")
@db_option
@json_option
@user_errors
def list_(db: str | None, as_json: bool) -> None:
    """List the stored articles, newest first."""
    with open_corpus(db) as store:
        articles = store.list_articles()
    if as_json:
        print_json([a.to_dict() for a in articles])
        return
    for a in articles:
        date = a.published.strftime("%Y-%m-%d") if a.published else "----------"
        click.echo(f"{a.id}  {date}  {a.paragraph_count:>3}  {a.title}")


@cli.command()
@click.argument("article_id")
@db_option
@json_option
@user_errors
def show(article_id: str, db: str | None, as_json: bool) -> None:
    """Show one article: metadata and paragraphs (ID may be a unique prefix)."""
    with open_corpus(db) as store:
        article = store.get(article_id)
    if as_json:
        print_json(article.to_dict())
    else:
        click.echo(format_article(article))


def format_article(article: Article) -> str:
    lines = [click.style(article.title, bold=True)]
    facts = [("id", article.id)]
    if article.published:
        facts.append(("published", article.published.isoformat()))
    for name in ("author", "reporter", "url"):
        value = getattr(article, name)
        if value:
            facts.append((name, value))
    if article.categories:
        facts.append(("categories", " / ".join(article.categories)))
    if article.tags:
        facts.append(("tags", ", ".join(article.tags)))
    facts.append(("source", article.source_path))
    lines += [f"{name}: {value}" for name, value in facts]
    section = None
    for p in article.paragraphs:
        if p.section != section and p.section:
            lines += ["", click.style(f"## {p.section}", bold=True)]
        section = p.section
        lines += ["", f"[{p.index}] {p.text}"]
    return "\n".join(lines)


@cli.command()
@click.argument("article_id")
@db_option
@json_option
@user_errors
def remove(article_id: str, db: str | None, as_json: bool) -> None:
    """Remove an article and its paragraphs from the store."""
    with open_store(db, create=False) as store:  # a missing store has nothing to remove
        removed = store.remove(article_id)
        update_index(store)
    if as_json:
        print_json({"removed": removed.to_dict()})
    else:
        click.echo(f"Removed {removed.id}  {removed.title}")


@cli.command()
@db_option
@json_option
@user_errors
def stats(db: str | None, as_json: bool) -> None:
    """Counts of the store: articles, paragraphs, last added."""
    try:
        with open_store(db, create=False) as store:
            figures = store.stats()
    except StoreNotFound:
        if db_is_explicit(db):
            raise
        # the default location before the first add: an empty store, created by nothing
        figures = StoreStats(0, 0, 0, None, str(resolve_db_path(db)), SCHEMA_VERSION)
    if as_json:
        print_json(figures.to_dict())
        return
    click.echo(f"store:      {figures.db_path}")
    click.echo(f"articles:   {figures.articles}")
    click.echo(f"paragraphs: {figures.paragraphs}")
    click.echo(f"characters: {figures.characters}")
    if figures.last_added:
        last = figures.last_added
        click.echo(f"last added: {last.id}  {last.title}  ({last.added_at:%Y-%m-%d %H:%M} UTC)")
    else:
        click.echo("The store is empty: add articles with `articlebot add PATH`.")


@cli.command(name="tokenize")
@click.argument("text", required=False)
@click.option("--file", "file", metavar="FILE", help="Tokenize each line of FILE (UTF-8; - reads stdin) instead of TEXT.")
@click.option(
    "--mode",
    type=click.Choice(["search", "precise"]),
    default="search",
    show_default=True,
    help="search: also the sub-words of long words; precise: jieba's plain cut.",
)
@click.option(
    "--hmm/--no-hmm",
    default=False,  # as the index tokenizes (TokenizerConfig.hmm): what is shown is what is indexed
    show_default=True,
    help="Guess unknown words (names) with jieba's HMM; the index does not.",
)
@click.option("--no-stopwords", is_flag=True, help="Keep the words of the stop-word list.")
@click.option("--user-dict", metavar="PATH", help="jieba user dictionary: 'word [freq] [tag]' per line.")
@json_option
@user_errors
def tokenize_cmd(
    text: str | None, file: str | None, mode: str, hmm: bool, no_stopwords: bool, user_dict: str | None, as_json: bool
) -> None:
    """Show the tokens that indexing and questions use for TEXT, or for each line of --file.

    Tokens are normalised (NFKC, lowercase); punctuation and stop words are dropped.
    --json prints {"text", "tokens", "spans": [[start, end], ...]} on one line per text.
    """
    # Imported here: jieba takes a noticeable time to import, and other commands never need it.
    from articlebot.retrieval.tokenize import Tokenizer, TokenizerConfig, TokenizerError

    if (text is None) == (file is None):
        raise click.UsageError("give either TEXT or --file FILE")

    def lines(file: str) -> Iterator[str]:
        try:  # "-" is stdin, which click leaves open
            stream = click.open_file(file, encoding="utf-8-sig")
        except OSError as exc:
            raise TokenizerError(f"cannot read {file}: {exc.strerror or exc}") from None
        with stream:
            try:
                for line in stream:
                    yield line.rstrip("\n")
            except UnicodeDecodeError:
                raise TokenizerError(f"{'stdin' if file == '-' else file} is not UTF-8 text") from None

    config = TokenizerConfig(mode=mode, hmm=hmm, stopwords=not no_stopwords, user_dict=user_dict)
    tokenizer = Tokenizer(config)
    for line in lines(file) if file is not None else [text or ""]:  # one of the two is given
        spans = tokenizer.spans(line)
        if as_json:
            record = {"text": line, "tokens": [t.term for t in spans], "spans": [[t.start, t.end] for t in spans]}
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            click.echo(" / ".join(t.term for t in spans))


def make_searcher(store: Store, k1: float | None = None, b: float | None = None, per_article: int | None = None):
    """The search the bot uses; k1/b/per_article override the defaults when given."""
    # Imported here: jieba and numba take a noticeable time to import; list/show never need them.
    import dataclasses

    from articlebot.retrieval.search import SearchConfig, Searcher

    config = SearchConfig()
    bm25 = dataclasses.replace(config.bm25, **{n: v for n, v in (("k1", k1), ("b", b)) if v is not None})
    return Searcher(store, dataclasses.replace(config, bm25=bm25, per_article=per_article or None))


def bm25_options(func):
    """--k1/--b/--per-article, shared by search and eval (pyserini style: explicit k1 and b)."""
    func = click.option(
        "--per-article",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="At most this many paragraphs per article (0: no limit).",
    )(func)
    func = click.option("--b", "b", type=click.FloatRange(0, 1), help="BM25 length normalisation [default: 0.4].")(func)
    func = click.option("--k1", type=click.FloatRange(min=0), help="BM25 term-frequency saturation [default: 0.9].")(func)
    return func


def update_index(store: Store, jobs: int = 1) -> None:
    """Bring the search index beside the store up to date (only new or removed paragraphs)."""
    from articlebot.retrieval.search import update_index as update

    report = update(store, jobs=jobs)
    if report.rebuilt:
        click.echo(f"Rebuilt the search index: {report.reason}.", err=True)


@cli.command()
@click.argument("query", required=False)
@click.option("--queries", "queries_file", metavar="FILE", help="Answer each line of FILE (- for stdin); prints JSON lines with --json.")
@click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="How many paragraphs.")
@bm25_options
@db_option
@json_option
@user_errors
def search(query, queries_file, k, per_article, k1, b, db, as_json) -> None:
    """The paragraphs that best answer QUERY (BM25 over jieba tokens)."""
    from articlebot.bot.present import terminal_hits

    if (query is None) == (queries_file is None):
        raise click.UsageError("give either QUERY or --queries FILE")
    with open_corpus(db) as store:
        searcher = make_searcher(store, k1, b, per_article)
        limit = per_article or None
        if queries_file is None:
            hits = searcher.search(query, k=k, per_article=limit)
            if as_json:
                print_json({"query": query, "hits": [h.to_dict() for h in hits]})
            elif not hits:
                click.echo("No relevant paragraph found.")
            else:
                click.echo(terminal_hits(hits))
            return
        # invalid UTF-8 becomes U+FFFD: one bad line must not stop a batch of questions
        try:
            stream = click.open_file(queries_file, encoding="utf-8-sig", errors="replace")
        except OSError as exc:  # a user error (one line, exit 1), not a traceback
            raise click.FileError(queries_file, hint=exc.strerror or str(exc)) from None
        with stream:
            for line in stream:
                line = line.rstrip("\r\n")
                hits = searcher.search(line, k=k, per_article=limit)
                if as_json:
                    click.echo(json.dumps({"query": line, "hits": [h.to_dict() for h in hits]}, ensure_ascii=False))
                else:
                    click.echo(f"{line}\t" + (" | ".join(f"{h.docid} {h.score:.2f}" for h in hits) or "-"))


@cli.command(name="eval")
@click.argument("questions_file", metavar="FILE")
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Depth of recall@k (MRR and nDCG use the top 10).")
@bm25_options
@click.option("--run", "run_file", metavar="RUN.trec", help="Also write the hits as a TREC run file.")
@click.option("--min-recall", type=click.FloatRange(min=0), metavar="X", help="Exit 1 when recall@3 is below X.")
@click.option("--min-mrr", type=click.FloatRange(min=0), metavar="Y", help="Exit 1 when MRR@10 is below Y.")
@click.option("--min-no-answer-precision", type=click.FloatRange(min=0), metavar="Z", help="Exit 1 when no-answer precision is below Z.")
@click.option("--sample", "use_sample", is_flag=True, help="Evaluate on the bundled sample corpus (in memory), whatever the store holds.")
@click.option(
    "--reference",
    is_flag=True,
    help="Also re-score every question with rank_bm25's BM25Okapi over the same tokens and report any "
    "difference from the engine's top k (exit 1 when there is one). Slow on large stores.",
)
@db_option
@json_option
@user_errors
def eval_cmd(
    questions_file, k, k1, b, per_article, run_file, min_recall, min_mrr, min_no_answer_precision, use_sample, reference, db, as_json
) -> None:
    """Measure retrieval on a question file (JSON lines: query, title, answer).

    Prints recall@1/3/k, MRR@10, nDCG@10 over the answerable questions, the no-answer
    figures and the search latency, then the questions not answered right at rank 1.
    """
    from articlebot.retrieval.evaluate import evaluate, load_questions, snippet, unknown_titles, write_trec_run

    def fmt(value, unit=""):
        if value is None:
            return "n/a"
        return f"{value:.2f} ms" if unit else f"{value:.3f}"

    questions = load_questions(questions_file)  # before opening the corpus: a bad file fails fast
    with open_sample() if use_sample else open_corpus(db) as store:
        unknown = unknown_titles(questions, (a.title for a in store.list_articles()))
        if unknown:
            hint = "" if use_sample else " Questions written for the bundled sample? Run with --sample."
            click.echo(f"Warning: no article has the title of {', '.join(q.id for q in unknown)}.{hint}", err=True)
        searcher = make_searcher(store, k1, b, per_article)
        report = evaluate(searcher, questions, k=k)
        checked = None
        if reference:
            from articlebot.retrieval.reference import compare_with_rank_bm25

            checked = compare_with_rank_bm25(searcher, [q.query for q in questions], k)
    if run_file:
        write_trec_run(report, run_file)
    metrics = report.metrics
    if as_json:
        print_json(report.to_dict() | ({"reference": checked.to_dict()} if checked else {}))
    else:
        click.echo(f"{'questions':<20} {len(report.results)} ({len(report.answerable)} answerable, {len(report.no_answer)} no-answer)")
        for name, value in metrics.items():
            latency = name.startswith("latency")
            label = name.replace("latency_ms_", "latency ") if latency else name
            click.echo(f"{label:<20} {fmt(value, 'ms' if latency else '')}")
        misses = report.misses
        if misses:
            click.echo(f"\nMisses ({len(misses)}):")
        for r in misses:
            q = r.question
            expected = f"expected: {q.title or '(any title)'} / {' | '.join(q.answers)}" if q.answerable else "expected no answer"
            got = f"{r.hits[0].title}: {snippet(r.hits[0].text, 60)}" if r.hits else "no hits"
            where = (
                ""
                if not q.answerable or not r.hits
                else (f"  (right at rank {r.rank})" if r.rank else f"  (right not in top {len(r.hits)})")
            )
            click.echo(f"{q.id}  {q.query}  -> {expected}  | got: {got}{where}")
    if checked and not as_json:
        click.echo(format_reference_check(checked))
    failed = [
        f"{name} {fmt(metrics[name])} < {minimum}"
        for name, minimum in (("recall@3", min_recall), ("mrr@10", min_mrr), ("no_answer_precision", min_no_answer_precision))
        if minimum is not None and (metrics[name] is None or metrics[name] < minimum)
    ]
    if failed:
        click.echo("Below threshold: " + "; ".join(failed), err=True)
    if checked and checked.differences:
        click.echo(f"The engine differs from rank_bm25 on {len(checked.differences)} question(s).", err=True)
    if failed or (checked and checked.differences):
        sys.exit(1)


def format_reference_check(checked) -> str:
    head = (
        f"\nReference check (rank_bm25 BM25Okapi, same tokens): {checked.questions} questions, "
        f"{checked.hits_compared} hits compared at top {checked.k}: "
    )
    if not checked.differences:
        return head + "identical rankings and scores."
    lines = [head + f"{len(checked.differences)} differ:"]
    for d in checked.differences:
        ours = " ".join(f"{pid}:{score:.6f}" for pid, score in d.ours) or "-"
        theirs = " ".join(f"{pid}:{score:.6f}" for pid, score in d.reference) or "-"
        lines.append(f"  {d.query}\n    ours:      {ours}\n    rank_bm25: {theirs}")
    return "\n".join(lines)


@cli.command(name="bot")
@db_option
@click.option("--base-url", metavar="URL", help="Bot API server (default: $TELEGRAM_API_BASE_URL, else api.telegram.org).")
@click.option("--webhook-url", metavar="URL", help="Receive updates on this public https url instead of long polling.")
@click.option("--listen", default="127.0.0.1", show_default=True, help="Address the webhook server listens on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8443, show_default=True, help="Port of the webhook server.")
@click.option("--secret-token", metavar="S", help="Webhook secret Telegram sends in each request header.")
@user_errors
def bot_cmd(db, base_url, webhook_url, listen, port, secret_token) -> None:
    """Run the Telegram bot (token from $TELEGRAM_BOT_TOKEN) until Ctrl-C or SIGTERM.

    Admins ($ARTICLEBOT_ADMINS, user ids) can add articles by sending files, and
    /remove them. $ARTICLEBOT_ALLOWED_CHATS limits the chats served;
    $ARTICLEBOT_RATE_LIMIT (default 10/60) the questions per user per seconds.
    """
    # Imported here: python-telegram-bot is only needed by this command.
    from articlebot.bot.app import build_application, check_bot_api, run, setup_logging
    from articlebot.bot.config import BotConfig, ConfigError
    from articlebot.bot.library import Library

    try:
        config = BotConfig.from_env(base_url=base_url, webhook_url=webhook_url, listen=listen, port=port, secret_token=secret_token)
    except ConfigError as exc:  # a configuration problem: exit 2, like a usage error
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    setup_logging(config.token)
    try:
        check_bot_api(config)  # before opening the store: an unreachable server is one line
        library = Library(resolve_db_path(db))  # closed by the application's post_shutdown
        run(build_application(config, library), config)
    except ConfigError as exc:  # e.g. Telegram rejected the token
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


@cli.command()
@click.option("-k", "k", type=click.IntRange(min=1), default=3, show_default=True, help="Answers per reply (/more shows the next ones).")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Language of messages [default: each question's, else $LANG's].")
@click.option("--verbose", "-v", is_flag=True, help="Show paragraph ids and scores.")
@db_option
@user_errors
def chat(k: int, lang: str | None, verbose: bool, db: str | None) -> None:
    """Ask questions in the terminal; with input from a pipe, answer each line and exit.

    The best answer leads with the sentences that answer, then its title, date and
    source; /more shows further answers, /full N the whole paragraph of answer N.
    """
    import shutil

    from articlebot.bot.chat import PAGES, ChatSession, run_chat, terminal_language

    interactive = sys.stdin.isatty()
    # wrapped to the terminal's width on a terminal; one line per block for a pipe
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    with open_corpus(db) as store:
        searcher = make_searcher(store)
        session = ChatSession(lambda q: searcher.search(q, k=k * PAGES), k, lang, terminal_language(), width, verbose)
        run_chat(session, interactive, sys.stdin)


def main() -> None:
    cli(prog_name="articlebot")


if __name__ == "__main__":
    main()
