"""The demo's catalogue: categories, and titles and descriptions of open movies
(Blender Foundation, CC-BY) and public-domain classics."""

from dataclasses import dataclass

from kushfilms.models import AccessLevel

CATEGORIES = {
    "Animation": "Open movies from the Blender studio and friends.",
    "Classics": "Films that shaped the century, restored and in the public domain.",
    "Comedy": "Screwball, slapstick and everything in between.",
    "Horror": "Things that go bump in the dark.",
    "Science Fiction": "Machines, stars and futures that never were.",
}


@dataclass(frozen=True)
class DemoFilm:
    title: str
    year: int
    category: str
    access: AccessLevel
    description: str


FILMS = (
    DemoFilm(
        "Big Buck Bunny",
        2008,
        "Animation",
        AccessLevel.FREE,
        "A giant rabbit with a heart bigger than himself takes on three bullying "
        "rodents who spoil his perfect spring day.",
    ),
    DemoFilm(
        "Sintel",
        2010,
        "Animation",
        AccessLevel.BASIC,
        "A lonely girl crosses frozen wilds to find the baby dragon she raised, and "
        "learns what it costs to get him back.",
    ),
    DemoFilm(
        "Elephants Dream",
        2006,
        "Science Fiction",
        AccessLevel.FREE,
        "Two men wander an endless machine that only one of them believes in.",
    ),
    DemoFilm(
        "Tears of Steel",
        2012,
        "Science Fiction",
        AccessLevel.PREMIUM,
        "In a future Amsterdam, scientists and warriors replay a broken-hearted goodbye "
        "to save the world from the robots it built.",
    ),
    DemoFilm(
        "Cosmos Laundromat",
        2015,
        "Animation",
        AccessLevel.BASIC,
        "On a desolate island, a suicidal sheep named Franck meets a salesman who offers "
        "him the gift of a lifetime.",
    ),
    DemoFilm(
        "Spring",
        2019,
        "Animation",
        AccessLevel.FREE,
        "A shepherd girl and her dog face ancient spirits to bring spring back to the mountains.",
    ),
    DemoFilm(
        "His Girl Friday",
        1940,
        "Comedy",
        AccessLevel.FREE,
        "A newspaper editor uses every trick he knows to keep his star reporter, who "
        "is also his ex-wife, from remarrying.",
    ),
    DemoFilm(
        "The General",
        1926,
        "Comedy",
        AccessLevel.FREE,
        "A Confederate engineer chases a stolen locomotive, and the woman he loves, "
        "across enemy lines.",
    ),
    DemoFilm(
        "Night of the Living Dead",
        1968,
        "Horror",
        AccessLevel.FREE,
        "Strangers barricade themselves in a farmhouse as the dead rise and surround it.",
    ),
    DemoFilm(
        "Nosferatu",
        1922,
        "Horror",
        AccessLevel.BASIC,
        "An estate agent travels to the Carpathians to sell a house to Count Orlok, and "
        "brings the plague home with him.",
    ),
    DemoFilm(
        "Metropolis",
        1927,
        "Science Fiction",
        AccessLevel.PREMIUM,
        "In a towering city split between thinkers and workers, a rich man's son falls "
        "for a prophet of the underground.",
    ),
    DemoFilm(
        "Charade",
        1963,
        "Classics",
        AccessLevel.BASIC,
        "A widow in Paris is hunted by her late husband's partners for a fortune nobody "
        "can find, helped by a stranger with too many names.",
    ),
    DemoFilm(
        "Detour",
        1945,
        "Classics",
        AccessLevel.FREE,
        "A pianist hitchhikes to Los Angeles and one wrong turn leads to another.",
    ),
    DemoFilm(
        "Plan 9 from Outer Space",
        1957,
        "Science Fiction",
        AccessLevel.FREE,
        "Aliens raise the dead of a small Californian town to stop humanity building "
        "a doomsday weapon.",
    ),
)
