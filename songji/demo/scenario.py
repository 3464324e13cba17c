"""The Fukang class of 2025 as data: who the workers are, when the classes meet, who comes,
how they score, and the policy that pays for it. Pure and deterministic from the seed.

The article's first class outside Yunnan ran in Fukang, Xinjiang, from 24 July to 7 August
2025: 149 workers from Luquan trained as electricians and crop protection workers. Any number
of workers can be played (a county's intake: thousands): they fill as many classes of the two
courses as they need, at most ``CLASS_SIZE`` trainees each; building 20,000 takes a fraction
of a second. Names, ID numbers and phone numbers here are synthetic; the ID numbers are valid
(GB 11643) so the liaison station's real-name check accepts them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, time, timedelta

from stdnum.cn import ric

from shared.contracts.bounds import MAX_CLASS_SIZE

LUQUAN = "禄劝彝族苗族自治县"
LUQUAN_REGION_CODE = "530128"
TOWNSHIPS = ("屏山街道", "崇德街道", "茂山镇", "转龙镇", "撒营盘镇", "九龙镇", "团街镇", "中屏镇",
             "汤郎乡", "翠华镇", "乌东德镇", "皎平渡镇", "马鹿塘乡", "云龙乡", "则黑乡", "雪山乡")
SURNAMES = "李王张杨赵刘陈罗普毕龙沙鲁朱何段"
GIVEN = "国文志红兰英明华秀丽建平玉春芳云强林海燕德成金梅"
EMPLOYERS = ("阜康某电力安装公司", "阜康某农业合作社", "阜康某棉花种植公司", "阜康某建筑公司")
PROVINCE, CITY = "新疆", "阜康市"

FIRST_DAY, LAST_DAY = date(2025, 7, 24), date(2025, 8, 7)
PASS_MARK = 60  # the assessment body's pass mark, theory and practical each

ELECTRICIAN, CROP_PROTECTION = "electrician", "crop_protection_worker"
ELECTRICIAN_SHARE = 89 / 149  # the article's split is not given; about three in five

# A county's intake is many classes, not a few giant ones. A class takes at most CLASS_SIZE
# trainees (what a classroom seats and a practical group can be supervised in; the contracts
# allow up to MAX_CLASS_SIZE), so the article's 89 electricians make two night classes. One
# institution runs them all: nothing bounds the classes an institution runs, only the sites
# it is accredited for (MAX_SITES), and the classes use seven.
CLASS_SIZE = 60
# Where the classes meet: training points near the plants, farm bases in the townships.
ELECTRICIAN_SITES = ("阜康产业园区培训点", "阜康城区培训点", "阜康产业园区第二培训点")
CROP_SITES = ("阜康九运街镇农业基地", "阜康滋泥泉子镇农业基地", "阜康上户沟乡农业基地",
              "阜康水磨沟乡农业基地")

# (catalogue rate per level in fen) -- the HR bureau's policy; 1 yuan = 100 fen
TRAINING_SUBSIDY_FEN = {(ELECTRICIAN, 5): 100_000, (ELECTRICIAN, 4): 150_000,
                        (ELECTRICIAN, 3): 200_000, (CROP_PROTECTION, 5): 100_000,
                        (CROP_PROTECTION, 4): 150_000}
UPLIFT_PERCENT = 50
MEALS_FEN_PER_DAY, TRANSPORT_FEN_PER_DAY = 6_000, 2_000
THRESHOLD_PERCENT = 80


@dataclass(frozen=True)
class Session:
    day: date
    start: time
    end: time
    kind: str

    @property
    def minutes(self) -> int:
        return (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)

    @property
    def check_in(self) -> str:
        return {"online_theory": "online_platform_log",
                "practical_on_the_job": "on_the_job_sign_off"}.get(self.kind, "face_check")


@dataclass(frozen=True)
class Course:
    """A kind of class: every class of a course keeps its occupation, level, mode and
    schedule; the classes differ in site, trainers and trainees."""

    key: str  # "electrician" or "crop_protection"
    stem: str  # in the class ids: fk2025-<stem>-<seed>[-<n>]
    occupation_code: str
    level: int
    mode: str
    sites: tuple[str, ...]  # the classes take them in turn
    trainer_stem: str
    trainers_per_class: int
    women_share: float  # chance that a trainee of this course is a woman
    sessions: tuple[Session, ...]

    @property
    def days(self) -> int:
        return len({s.day for s in self.sessions})


@dataclass(frozen=True)
class ClassPlan:
    course: str  # the Course's key
    number: int  # 1.. within the course
    class_id: str
    occupation_code: str
    level: int
    mode: str
    site_name: str
    sessions: tuple[Session, ...]
    trainer_ids: tuple[str, ...]

    @property
    def required_minutes(self) -> int:
        return sum(s.minutes for s in self.sessions)

    @property
    def site(self) -> dict[str, str]:
        return {"province": PROVINCE, "city": CITY, "site_name": self.site_name}


@dataclass(frozen=True)
class Worker:
    """One trainee. ``index`` is the scenario's own number; the service assigns worker ids."""

    index: int
    name: str
    national_id: str
    mobile: str
    gender: str
    township: str
    employer: str
    class_id: str
    # minutes attended at each session of the class, in session order; 0 = absent
    minutes: tuple[int, ...]
    theory_score: int
    practical_score: int


@dataclass(frozen=True)
class Scenario:
    seed: int
    courses: dict[str, Course]
    classes: dict[str, ClassPlan]  # by class id: a course's classes together, by number
    workers: tuple[Worker, ...]
    rosters: dict[str, tuple[Worker, ...]]  # class id -> its trainees, by index

    def in_class(self, class_id: str) -> tuple[Worker, ...]:
        return self.rosters[class_id]

    def of_course(self, key: str) -> list[ClassPlan]:
        return [c for c in self.classes.values() if c.course == key]

    @property
    def objection_worker(self) -> Worker:
        """The trainee whose living subsidy the trade union questions in the public
        notice (the objection is upheld: their line is withheld)."""
        return self._attended()[0]

    @property
    def failed_payment_worker(self) -> Worker:
        """The trainee whose bank account rejects the transfer."""
        attended = self._attended()
        return attended[1] if len(attended) > 1 else attended[0]

    def _attended(self) -> list[Worker]:
        return [w for w in self.workers if any(w.minutes)]


def check_digit(first17: str) -> str:
    """GB 11643's check character (ISO 7064 MOD 11-2) over the first 17 digits."""
    return ric.calc_check_digit(first17 + "?")  # it reads the 17 digits before the last


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def courses() -> dict[str, Course]:
    """A night class for electricians (weekday evenings after the shift) and a weekend class
    for crop protection workers (field work in the morning, practice in the afternoon)."""
    days = _days(FIRST_DAY, LAST_DAY)
    evenings = []
    for n, day in enumerate(d for d in days if d.weekday() < 5):
        kind = ("online_theory", "classroom_theory", "practical_on_the_job")[n % 3]
        evenings.append(Session(day, time(19, 30), time(22, 0), kind))
    weekends = []
    for day in (d for d in days if d.weekday() >= 5):
        weekends.append(Session(day, time(9, 0), time(12, 0), "field"))
        weekends.append(Session(day, time(15, 0), time(18, 0), "practical_on_the_job"))
    return {
        "electrician": Course("electrician", "elec", ELECTRICIAN, 4, "night",
                              ELECTRICIAN_SITES, "elec", 2, 0.2, tuple(evenings)),
        "crop_protection": Course("crop_protection", "crop", CROP_PROTECTION, 5, "weekend",
                                  CROP_SITES, "agri", 1, 0.45, tuple(weekends)),
    }


def split(total: int, most: int) -> list[int]:
    """Sizes of the fewest groups of at most ``most`` that hold ``total``, as equal as they
    can be (they differ by one at most); none when ``total`` is 0."""
    groups = -(-total // most)
    if not groups:
        return []
    base, extra = divmod(total, groups)
    return [base + 1] * extra + [base] * (groups - extra)


def _class_id(course: Course, seed: int, number: int, count: int) -> str:
    """The article's id when a course has one class; numbered when it has several."""
    base = f"fk2025-{course.stem}-{seed}"
    return base if count == 1 else f"{base}-{number:0{max(2, len(str(count)))}d}"


def _plans(course: Course, sizes: list[int], seed: int) -> list[ClassPlan]:
    """The course's classes: their sites in turn, trainers of their own."""
    plans = []
    for number in range(1, len(sizes) + 1):
        first_trainer = (number - 1) * course.trainers_per_class + 1
        plans.append(ClassPlan(
            course=course.key, number=number,
            class_id=_class_id(course, seed, number, len(sizes)),
            occupation_code=course.occupation_code, level=course.level, mode=course.mode,
            site_name=course.sites[(number - 1) % len(course.sites)],
            sessions=course.sessions,
            trainer_ids=tuple(f"trainer-{course.trainer_stem}-{first_trainer + t}"
                              for t in range(course.trainers_per_class))))
    return plans


def _national_id(rng: random.Random, gender: str, taken: set[str]) -> str:
    while True:
        born = date(1972, 1, 1) + timedelta(days=rng.randrange(0, 365 * 32))
        order = rng.randrange(0, 100) * 10 + rng.choice(
            (1, 3, 5, 7, 9) if gender == "male" else (0, 2, 4, 6, 8))
        first17 = f"{LUQUAN_REGION_CODE}{born:%Y%m%d}{order:03d}"
        number = first17 + check_digit(first17)
        if number not in taken:
            taken.add(number)
            return number


def _attendance(rng: random.Random, sessions: tuple[Session, ...]) -> tuple[int, ...]:
    """Most come to nearly everything; some miss sessions when shifts clash; a few drift away.
    Some arrive late from the site."""
    profile = rng.random()
    absence = 0.03 if profile < 0.75 else 0.2 if profile < 0.92 else 0.5
    minutes = []
    for s in sessions:
        if rng.random() < absence:
            minutes.append(0)
        elif rng.random() < 0.08:
            minutes.append(s.minutes - rng.choice((20, 30, 45)))
        else:
            minutes.append(s.minutes)
    return tuple(minutes)


def _score(rng: random.Random, mean: float, spread: float) -> int:
    return max(0, min(100, round(rng.gauss(mean, spread))))


def build(workers: int = 149, seed: int = 2025, class_size: int = CLASS_SIZE) -> Scenario:
    """``workers`` trainees in as many classes of at most ``class_size`` as they need: about
    three in five electricians, the rest crop protection workers. The same seed and sizes
    give the same scenario."""
    if workers < 2:
        raise ValueError("the demo needs at least two workers, one per course")
    if not 1 <= class_size <= MAX_CLASS_SIZE:
        raise ValueError(f"a class holds 1 to {MAX_CLASS_SIZE} trainees, not {class_size}")
    rng = random.Random(seed)
    catalogue = courses()
    electricians = min(workers - 1, max(1, round(workers * ELECTRICIAN_SHARE)))
    keys = ["electrician"] * electricians + ["crop_protection"] * (workers - electricians)
    rng.shuffle(keys)

    # A course's trainees fill its classes in the order they registered.
    plans: list[ClassPlan] = []
    seats: dict[str, list[str]] = {}  # course -> class id of each of its trainees, in order
    for key, course in catalogue.items():
        sizes = split(keys.count(key), class_size)
        mine = _plans(course, sizes, seed)
        plans += mine
        seats[key] = [p.class_id for p, size in zip(mine, sizes, strict=True)
                      for _ in range(size)]
    taken: set[str] = set()
    filled = dict.fromkeys(catalogue, 0)
    people = []
    for index, key in enumerate(keys, start=1):
        course = catalogue[key]
        gender = "female" if rng.random() < course.women_share else "male"
        people.append(Worker(
            index=index,
            name=rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice((1, 2)))),
            national_id=_national_id(rng, gender, taken),
            mobile=f"1{rng.choice('3589')}{rng.randrange(0, 10**9):09d}",
            gender=gender,
            township=rng.choice(TOWNSHIPS),
            employer=rng.choice(EMPLOYERS),
            class_id=seats[key][filled[key]],
            minutes=_attendance(rng, course.sessions),
            theory_score=_score(rng, 76, 11),
            practical_score=_score(rng, 74, 12),
        ))
        filled[key] += 1
    rosters: dict[str, list[Worker]] = {p.class_id: [] for p in plans}
    for worker in people:
        rosters[worker.class_id].append(worker)
    return Scenario(seed=seed, courses=catalogue, classes={p.class_id: p for p in plans},
                    workers=tuple(people),
                    rosters={k: tuple(v) for k, v in rosters.items()})


# -- after the certificate: the vacancies in Fukang and who is placed ------------------------

@dataclass(frozen=True)
class VacancyTerms:
    employer: str
    minimum_level: int
    shift_pattern: str
    wage_min_fen: int
    wage_max_fen: int
    hired_wage_fen: int


# One vacancy per course at an employer near the classes, asking for the level it certifies,
# for as many workers as were certified in it.
VACANCIES = {
    ELECTRICIAN: VacancyTerms("阜康某电力安装公司", 4, "night", 550_000, 750_000, 650_000),
    CROP_PROTECTION: VacancyTerms("阜康某农业合作社", 5, "flexible", 420_000, 520_000, 480_000),
}
RAISE_BY_3_MONTHS_FEN = 20_000  # what the still employed earn more at their follow-ups
DAYS_TO_THIRD_MONTH = 92  # from any day, at least three calendar months and less than six
WAGE_BANDS = ("under_3000", "3000_to_4999", "5000_to_6999")


def wage_band(worker: Worker) -> str:
    """What the worker earned before, as they told it at the intake survey."""
    return WAGE_BANDS[worker.index % len(WAGE_BANDS)]


def consents_to_referral(worker: Worker) -> bool:
    """One certified worker in five does not want to be referred (they stay where they are)."""
    return worker.index % 5 != 4


def hired(worker: Worker) -> bool:
    """The employer declines one referred worker in seven."""
    return worker.index % 7 != 3


def still_employed_at_3_months(worker: Worker) -> bool:
    """One placed worker in six has left by the 3-month follow-up."""
    return worker.index % 6 != 5
