"""Builds reference.yaml, the independent guardrail test set, from public lists (lists/*.txt), the
templates of config.yaml, evasions applied by code, and PII made by Faker (zh_CN, en_US) that only
third-party validators (id-validator, python-stdnum, phonenumbers) accept. Nothing here imports
the checks. Run: python evals/guardrails/reference/build.py  (needs faker, python-stdnum,
id-validator, phonenumbers, opencc)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import yaml

HERE = Path(__file__).parent
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
EMOJI = ["🔥", "✨", "👍", "💯", "🎉"]
SYMBOLS = ["*", "·", "_", "|", "/", "~", "-"]
HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і"}


def read_list(path: Path) -> list[tuple[str, str, str]]:
    """(term, category, domain) in the list's order; domain '' = every product."""
    out, category, domain = [], "uncategorised", ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("# "):
            continue
        if line.startswith("## "):
            category, _, domain = line[3:].partition(":")
            continue
        out.append((line, category, domain))
    return out


def full_width(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in s)


def interleave(s: str, fill) -> str:
    chars = list(s)
    return chars[0] + "".join(fill() + c for c in chars[1:]) if len(chars) > 1 else s


def evade(term: str, how: str, rng: random.Random, s2t) -> str:
    if how == "none":
        return term
    if how == "spaces":
        return interleave(term, lambda: " ")
    if how == "symbols":
        sym = rng.choice(SYMBOLS)
        return interleave(term, lambda: sym)
    if how == "full_width":
        return full_width(term)
    if how == "traditional":
        return s2t.convert(term)
    if how == "zero_width":
        return interleave(term, lambda: rng.choice(ZERO_WIDTH))
    if how == "emoji":
        at = rng.randrange(1, len(term)) if len(term) > 1 else 1
        return term[:at] + rng.choice(EMOJI) + term[at:]
    if how == "mixed":
        return interleave(s2t.convert(term), lambda: rng.choice([" ", "*", "\u200b"]))
    if how == "upper":
        return term.upper()
    if how == "hyphen_split":
        words = term.split(" ")
        longest = max(range(len(words)), key=lambda i: len(words[i]))
        w = words[longest]
        words[longest] = w[: len(w) // 2] + "-" + w[len(w) // 2 :] if len(w) > 3 else w
        return " ".join(words)
    if how == "homoglyph":
        return "".join(HOMOGLYPHS.get(c, c) if i % 2 else c for i, c in enumerate(term))
    if how == "dashes":
        return re.sub(r"[ -]", lambda m: rng.choice(["\u2013", "\u2014", "\u2011"]), term, count=1)
    raise ValueError(how)


def word_samples(cfg: dict, rng: random.Random, s2t) -> tuple[list[dict], list[dict]]:
    samples, skipped = [], []
    products = cfg["products"]
    for source, spec in cfg["sources"].items():
        locale = spec["locale"]
        for term, category, domain in read_list(HERE / "lists" / spec["file"]):
            skip = {k.lower(): why for k, why in cfg["skip_terms"].items()}
            if term.lower() in skip:
                skipped.append({"source": source, "term": term, "why": skip[term.lower()]})
                continue
            base = {"source": source, "held_out": spec["held_out"], "locale": locale, "term": term}
            for how in cfg["evasions"][locale]:  # every term under every evasion
                carrier = rng.choice(cfg["carriers"][locale])
                product = products[domain] if domain else rng.choice(products["general"])
                text = carrier.format(product=product[locale], term=evade(term, how, rng, s2t))
                samples.append(
                    base
                    | {
                        "kind": "violation",
                        "check": "sensitive_words",
                        "category": f"{category}:{domain}" if domain else category,
                        "product_category": product["category"],
                        "evasion": how,
                        "text": text,
                    }
                )
            if domain and term in cfg["off_domain_clean"]:
                outside = rng.choice(products["general"])
                text = rng.choice(cfg["carriers"][locale]).format(product=outside[locale], term=term)
                samples.append(
                    base
                    | {
                        "kind": "clean",
                        "check": "sensitive_words",
                        "category": f"{domain} term off-domain",
                        "product_category": outside["category"],
                        "evasion": "none",
                        "text": text,
                    }
                )
    for locale, templates in cfg["lookalikes"].items():
        for template in templates:
            for product in products["general"]:
                samples.append(
                    {
                        "source": "guideline lookalikes",
                        "held_out": False,
                        "locale": locale,
                        "kind": "clean",
                        "check": "sensitive_words",
                        "category": "lookalike",
                        "product_category": product["category"],
                        "evasion": "none",
                        "text": template.format(product=product[locale]),
                    }
                )
    return samples, skipped


def _groupings(digits: str, kind: str) -> list[str]:
    if kind == "id":
        return [
            digits,
            f"{digits[:6]} {digits[6:14]} {digits[14:]}",
            f"{digits[:6]}-{digits[6:14]}-{digits[14:]}",
            " ".join(digits[i : i + 4] for i in range(0, 18, 4)),
        ]
    if kind == "mobile":
        a, b, c = digits[:3], digits[3:7], digits[7:]
        return [
            digits,
            f"{a} {b} {c}",
            f"{a}-{b}-{c}",
            f"+86 {a} {b} {c}",
            f"0086-{a}-{b}-{c}",
            f"(+86){digits}",
            f"+86-{digits}",
            f"{digits[:3]} {digits[3:6]} {digits[6:9]} {digits[9:]}",
        ]
    if kind == "card":
        return [
            digits,
            " ".join(digits[i : i + 4] for i in range(0, len(digits), 4)),
            "-".join(digits[i : i + 4] for i in range(0, len(digits), 4)),
        ]
    return [digits]


def pii_samples(cfg: dict, rng: random.Random) -> list[dict]:
    import phonenumbers
    from faker import Faker
    from id_validator import validator as id_validator
    from stdnum import luhn
    from stdnum.cn import ric

    zh, en = Faker("zh_CN"), Faker("en_US")
    zh.seed_instance(cfg["seed"])
    en.seed_instance(cfg["seed"])
    valid = {
        "id": lambda s: id_validator.is_valid(s) and ric.calc_check_digit(s) == s[17].upper(),
        "mobile": lambda s: phonenumbers.is_valid_number(phonenumbers.parse(s, "CN")),
        "card": luhn.is_valid,
        "email": lambda s: re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", s) is not None,
    }
    make = {"id": zh.ssn, "mobile": zh.phone_number, "card": zh.credit_card_number, "email": zh.email}
    out = []
    for kind, gen in make.items():
        made = 0
        while made < cfg["pii"]["count"]:
            value = gen()
            if not valid[kind](value):
                continue
            grouped = rng.choice(_groupings(value, kind))
            locale = rng.choice(["zh-CN", "en-US"])
            text = rng.choice(cfg["pii"]["carriers"][locale]).format(x=grouped)
            out.append(
                {
                    "source": "faker",
                    "held_out": False,
                    "locale": locale,
                    "kind": "violation",
                    "check": "pii",
                    "category": kind,
                    "evasion": "grouping",
                    "text": text,
                }
            )
            made += 1
    for _ in range(cfg["pii"]["count"]):
        template = rng.choice(cfg["pii"]["lookalikes"])
        text = template.format(
            order=en.numerify("2026##########"),
            tracking=en.numerify("############"),
            code=en.numerify("######"),
            sku=en.numerify("####"),
            amount=f"{rng.randint(10, 9999)}.{rng.randint(0, 99):02d}",
            discount=rng.randint(5, 200),
            date=en.date_between("-30d", "+30d").isoformat(),
        )
        out.append(
            {
                "source": "faker",
                "held_out": False,
                "locale": "zh-CN" if re.search(r"[\u4e00-\u9fff]", text) else "en-US",
                "kind": "clean",
                "check": "pii",
                "category": "pii lookalike",
                "evasion": "none",
                "text": text,
            }
        )
    return out


def main() -> None:
    import opencc

    cfg = yaml.safe_load((HERE / "config.yaml").read_text(encoding="utf-8"))
    rng = random.Random(cfg["seed"])
    words, skipped = word_samples(cfg, rng, opencc.OpenCC("s2t"))
    samples = words + pii_samples(cfg, rng)
    for i, s in enumerate(samples, 1):
        s["id"] = f"R{i:04d}"
    header = (
        "# GENERATED by evals/guardrails/reference/build.py from lists/*.txt and config.yaml: do not edit.\n"
        "# The independent reference set; `copydesk guardrails eval` reports it beside corpus.yaml.\n"
    )
    body = yaml.safe_dump(
        {"skipped_terms": skipped, "samples": samples}, allow_unicode=True, sort_keys=False, width=200
    )
    (HERE / "reference.yaml").write_text(header + body, encoding="utf-8")
    print(f"{len(samples)} samples, {len(skipped)} list terms skipped")


if __name__ == "__main__":
    main()
