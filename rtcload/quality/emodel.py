"""ITU-T G.107 narrowband E-model, full chain (quality.md section 1), plus the G.107.2 full-band route for Opus.

Why the full chain and not "93.2 - Idd - Ie,eff": the short form is the full model with T = Tr = 0, and keeping
the chain lets the anchors (Ro 94.769, Is 1.414, Idle 0.149) pin the implementation and lets WAN studies switch
the echo path on. Units follow G.107: milliseconds, dB and Ppl in percent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .codecs import CodecProfile, get_codec

R_FB_MAX = 148.0  # G.107.2 full-band R scale
FB_TO_NB = 1.48  # public FB code divides R_FB by this before eq B-4
IE_EFF_CAP_NB = 95.0
IE_EFF_CAP_FB = 132.0


@dataclass(frozen=True)
class EModelParams:
    """G.107 Table 3 defaults; every field is overridable with dataclasses.replace."""

    slr: float = 8.0
    rlr: float = 2.0
    stmr: float = 15.0
    lstr: float = 18.0
    ds: float = 3.0
    telr: float = 65.0
    wepl: float = 110.0
    t: float = 0.0
    tr: float = 0.0
    ta: float = 0.0
    qdu: float = 1.0
    ie: float = 0.0
    bpl: float = 4.3
    ppl: float = 0.0
    burst_r: float = 1.0
    nc: float = -70.0
    nfor: float = -64.0
    ps: float = 35.0
    pr: float = 35.0
    a: float = 0.0
    mt: float = 100.0
    st: float = 1.0


DEFAULTS = EModelParams()


@dataclass(frozen=True)
class EModelTerms:
    """Every intermediate term, so tests and debugging can see where R went."""

    no: float
    ro: float
    iolr: float
    ist: float
    iq: float
    idte: float
    idle: float
    idd: float
    ie_eff: float
    a: float

    @property
    def is_(self) -> float:
        return self.iolr + self.ist + self.iq

    @property
    def id(self) -> float:
        return self.idte + self.idle + self.idd

    @property
    def r(self) -> float:
        return self.ro - self.is_ - self.id - self.ie_eff + self.a


@dataclass(frozen=True)
class EModelResult:
    """One rating on the NB scale (R 0..100, MOS 1..4.5); for FB codecs r is R_FB/1.48."""

    r: float
    mos: float
    ta_ms: float
    ppl: float
    burst_r: float
    codec: str


def _db_sum(*levels: float) -> float:
    return 10.0 * math.log10(sum(10.0 ** (x / 10.0) for x in levels))


def noise_floor(p: EModelParams) -> float:
    """No (dBm0p): power sum of circuit noise, send/receive room noise and the receive noise floor."""
    olr = p.slr + p.rlr
    nos = p.ps - p.slr - p.ds - 100.0 + 0.004 * (p.ps - olr - p.ds - 14.0) ** 2
    pre = p.pr + 10.0 * math.log10(1.0 + 10.0 ** ((10.0 - p.lstr) / 10.0))
    nor = p.rlr - 121.0 + pre + 0.008 * (pre - 35.0) ** 2
    nfo = p.nfor + p.rlr
    return _db_sum(p.nc, nos, nor, nfo)


def stmr_o(p: EModelParams) -> float:
    """Weighted echo path loss STMRo: sidetone plus talker echo arriving within a few ms."""
    return -10.0 * math.log10(10.0 ** (-p.stmr / 10.0) + math.exp(-p.t / 4.0) * 10.0 ** (-p.telr / 10.0))


def ist_term(p: EModelParams) -> float:
    """Ist, impairment from non-optimum sidetone."""
    s = stmr_o(p)
    return (
        12.0 * (1.0 + ((s - 13.0) / 6.0) ** 8) ** (1.0 / 8.0)
        - 28.0 * (1.0 + ((s + 1.0) / 19.4) ** 35) ** (1.0 / 35.0)
        - 13.0 * (1.0 + ((s - 3.0) / 33.0) ** 13) ** (1.0 / 13.0)
        + 29.0
    )


def idd_term(ta_ms: float, mt: float = 100.0, st: float = 1.0) -> float:
    """Idd, impairment from absolute one-way delay Ta (eqs 7-27/7-28); exponent 6*sT (not amplet2's 6-sT)."""
    if ta_ms <= mt:
        return 0.0
    x = math.log10(ta_ms / mt) / math.log10(2.0)
    k = 6.0 * st
    return 25.0 * ((1.0 + x**k) ** (1.0 / k) - 3.0 * (1.0 + (x / 3.0) ** k) ** (1.0 / k) + 2.0)


def ie_eff_term(ie: float, bpl: float, ppl: float, burst_r: float = 1.0, cap: float = IE_EFF_CAP_NB) -> float:
    """Ie,eff (eq 7-29); Ppl in percent, BurstR divides only the Ppl in the denominator."""
    if ppl <= 0.0:
        return ie
    return ie + (cap - ie) * ppl / (ppl / burst_r + bpl)


def terms(p: EModelParams = DEFAULTS) -> EModelTerms:
    """Evaluate the whole G.107 chain for one parameter set."""
    no = noise_floor(p)
    ro = 15.0 - 1.5 * (p.slr + no)
    olr = p.slr + p.rlr
    xolr = olr + 0.2 * (64.0 + no - p.rlr)
    iolr = 20.0 * ((1.0 + (xolr / 8.0) ** 8) ** (1.0 / 8.0) - xolr / 8.0)
    ist = ist_term(p)
    q = 37.0 - 15.0 * math.log10(p.qdu)
    g = 1.07 + 0.258 * q + 0.0602 * q * q
    y = (ro - 100.0) / 15.0 + 46.0 / 8.4 - g / 9.0
    z = 46.0 / 30.0 - g / 40.0
    iq = 15.0 * math.log10(1.0 + 10.0**y + 10.0**z)
    # Talker echo: for T < 1 ms the echo is heard as sidetone and Idte = 0.
    idte = 0.0
    if p.t >= 1.0:
        terv = p.telr - 40.0 * math.log10((1.0 + p.t / 10.0) / (1.0 + p.t / 150.0)) + 6.0 * math.exp(-0.3 * p.t**2)
        if p.stmr < 9.0:
            terv += ist / 2.0
        roe = -1.5 * (no - p.rlr)
        re = 80.0 + 2.5 * (terv - 14.0)
        idte = ((roe - re) / 2.0 + math.sqrt((roe - re) ** 2 / 4.0 + 100.0) - 1.0) * (1.0 - math.exp(-p.t))
        if p.stmr > 20.0:
            idte = math.sqrt(idte**2 + ist**2)
    rle = 10.5 * (p.wepl + 7.0) * (p.tr + 1.0) ** -0.25
    idle = (ro - rle) / 2.0 + math.sqrt((ro - rle) ** 2 / 4.0 + 169.0)
    idd = idd_term(p.ta, p.mt, p.st)
    ie_eff = ie_eff_term(p.ie, p.bpl, p.ppl, p.burst_r)
    return EModelTerms(no, ro, iolr, ist, iq, idte, idle, idd, ie_eff, p.a)


def mos_cubic(r: float) -> float:
    """Raw eq B-4 cubic without any guard (dips to 0.9888 at R = 3.22; grows again for R < 0)."""
    return 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6


def mos_from_r(r: float) -> float:
    """Annex B eq B-4 with an explicit R guard and a floor at 1 for the dip below R = 6.52."""
    if math.isnan(r) or r <= 0.0:
        return 1.0
    if r >= 100.0:
        return 4.5
    return min(4.5, max(1.0, mos_cubic(r)))


_R_MONOTONIC_FROM = 3.3  # just past the cubic's minimum at R ~ 3.22; B-4 increases from here to 100


def r_from_mos(mos: float) -> float:
    """Inverse of eq B-4 by bisection on the monotonic branch; MOS <= 1 gives 0 and MOS >= 4.5 gives 100."""
    if math.isnan(mos):
        raise ValueError("MOS is NaN")
    if mos <= 1.0:
        return 0.0
    if mos >= 4.5:
        return 100.0
    lo, hi = _R_MONOTONIC_FROM, 100.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if mos_cubic(mid) < mos:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _profile(codec: str | CodecProfile, plc: bool) -> CodecProfile:
    return codec if isinstance(codec, CodecProfile) else get_codec(codec, plc=plc)


def _params_for(ta_ms: float, echo_path: bool, base: EModelParams) -> EModelParams:
    # Echo-free short form by default (T = Tr = 0); echo_path models T = Ta, Tr = 2*Ta with the base TELR/WEPL.
    if echo_path:
        return replace(base, ta=ta_ms, t=ta_ms, tr=2.0 * ta_ms)
    return replace(base, ta=ta_ms)


def r_from_inputs(
    ta_ms: float,
    ppl_percent: float,
    burst_r: float = 1.0,
    codec: str | CodecProfile = "PCMU",
    *,
    plc: bool = True,
    echo_path: bool = False,
    params: EModelParams = DEFAULTS,
) -> float:
    """R on the NB scale for one-way delay Ta (ms), loss Ppl (%), BurstR and a codec.

    FB codecs (Opus) take the G.107.2 route: R_FB = 148 - 1.48*Id' - Ie,eff,FB (cap 132), reported as R_FB/1.48,
    where Id' is the delay impairment above the defaults' own Idle, so zero impairment lands on 93.1 for Opus.
    """
    if ta_ms < 0 or ppl_percent < 0 or burst_r <= 0:
        raise ValueError(f"invalid E-model inputs ta_ms={ta_ms} ppl={ppl_percent} burst_r={burst_r}")
    prof = _profile(codec, plc)
    ppl = min(ppl_percent, 100.0)
    p = _params_for(ta_ms, echo_path, params)
    if prof.scale == "NB":
        return terms(replace(p, ie=prof.ie, bpl=prof.bpl, ppl=ppl, burst_r=burst_r)).r
    t = terms(p)
    base_idle = terms(replace(params, ta=0.0, t=0.0, tr=0.0)).idle
    delay = t.id - base_idle
    ie_eff_fb = ie_eff_term(prof.ie, prof.bpl, ppl, burst_r, cap=IE_EFF_CAP_FB)
    return (R_FB_MAX - FB_TO_NB * delay - ie_eff_fb + params.a) / FB_TO_NB


def rate(
    ta_ms: float,
    ppl_percent: float,
    burst_r: float = 1.0,
    codec: str | CodecProfile = "PCMU",
    *,
    plc: bool = True,
    echo_path: bool = False,
    params: EModelParams = DEFAULTS,
) -> EModelResult:
    """R and MOS together, labelled with the inputs that produced them."""
    prof = _profile(codec, plc)
    r = r_from_inputs(ta_ms, ppl_percent, burst_r, prof, echo_path=echo_path, params=params)
    return EModelResult(r=r, mos=mos_from_r(r), ta_ms=ta_ms, ppl=ppl_percent, burst_r=burst_r, codec=prof.name)
