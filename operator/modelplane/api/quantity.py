"""Kubernetes quantities in the API server's canonical spelling.

The API server stores a Pod's `memory: 1024Mi` as `1Gi` and `cpu: 0.5` as
`500m`. Builders emit the canonical form so what they build compares equal to
what the server returns (no needless writes) and equal quantities hash alike.
Mirrors apimachinery's Quantity.CanonicalizeBytes.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import Final

_BINARY: Final = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_DECIMAL: Final = {
    -9: "n",
    -6: "u",
    -3: "m",
    0: "",
    3: "k",
    6: "M",
    9: "G",
    12: "T",
    15: "P",
    18: "E",
}
_DECIMAL_EXP: Final = {v: k for k, v in _DECIMAL.items()}
_MAX_NANOS: Final = 2**63 * 10**9  # the API server caps quantities at int64
_SPLIT: Final = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(.*)")


def canonical_quantity(text: str) -> str:
    """'1024Mi' -> '1Gi', '0.5' -> '500m', '1000m' -> '1', '1.5e3' -> '1500'."""
    match = _SPLIT.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a quantity")
    number, suffix = match.groups()
    if _kept_verbatim(number, suffix):
        return text
    with localcontext() as ctx:
        ctx.prec = 80
        value = Decimal(number)
        if suffix in _BINARY[1:]:
            fmt = "binary"
            value *= Decimal(1024) ** _BINARY.index(suffix)
        elif suffix in _DECIMAL_EXP:
            fmt = "decimal"
            value = value.scaleb(_DECIMAL_EXP[suffix])
        elif suffix[:1] in ("e", "E"):
            fmt = "exponent"
            value = value.scaleb(int(suffix[1:]))
        else:
            raise ValueError(f"{text!r} has an unknown suffix {suffix!r}")
        # The API server keeps nano precision, rounding finer values up.
        nanos = int((value * 10**9).to_integral_value(rounding=ROUND_CEILING))
    if nanos >= _MAX_NANOS:
        raise ValueError(f"{text!r} is too large for a Kubernetes quantity")
    if nanos == 0:
        return "0"
    if fmt == "binary" and nanos >= 1024 * 10**9 and nanos % 10**9 == 0:
        return _base1024(nanos // 10**9)
    return _base10(nanos, "exponent" if fmt == "exponent" else "decimal")


def _kept_verbatim(number: str, suffix: str) -> bool:
    """The server keeps a spelling it already considers canonical (apimachinery's fast path).

    That is why '1E6', '1.' and '1.234' come back unchanged while '1.5'
    becomes '1500m' and '2000' becomes '2k'.
    """
    whole, _, fraction = number.partition(".")
    whole = whole.lstrip("0") or "0"
    digits = whole + fraction
    if suffix in _BINARY[1:]:
        power = 10 * _BINARY.index(suffix)
        precision = 15 - len(whole) - int(power * 3 / 10) - 1
        return not fraction and precision >= 0 and int(digits) & 7 != 0
    if suffix in _DECIMAL_EXP:
        exponent = _DECIMAL_EXP[suffix]
    elif suffix[:1] in ("e", "E"):
        exponent = int(suffix[1:])
    else:
        return False
    scale = exponent - len(fraction)
    return (
        len(digits) <= 18
        and scale >= -9
        and scale % 3 == 0
        and not digits.endswith("000")
        and not digits.startswith("0")
    )


def _base1024(amount: int) -> str:
    power = 0
    while amount % 1024 == 0 and power < len(_BINARY) - 1:
        amount //= 1024
        power += 1
    return f"{amount}{_BINARY[power]}"


def _base10(nanos: int, fmt: str) -> str:
    mantissa, exponent = nanos, -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3  # round the exponent down to a multiple of 3
    mantissa, exponent = mantissa * 10**shift, exponent - shift
    if fmt == "exponent":
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    if exponent in _DECIMAL:
        return f"{mantissa}{_DECIMAL[exponent]}"
    return f"{mantissa}e{exponent}"
