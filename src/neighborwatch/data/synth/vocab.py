"""Built-in word lists for the synthetic organisation.

Everything here was written for neighborwatch: no CERT row or content text is copied. Content
fields are bags of these words (r4/r5) or sentences made from them (r6), so the files look like
CERT without carrying any of its text.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Aaron Abigail Adrian Alana Albert Alice Alma Amos Andrea Angus Anita Arthur Astrid Barbara Basil "
    "Beatrice Benedict Bernard Bianca Boris Brenda Bruno Camille Carl Carmen Cecil Celeste Clara "
    "Clement Colin Cora Damian Daphne Darius Delia Dennis Dora Edgar Edith Elias Elena Elliot Elsa "
    "Emil Erica Ernest Esther Felix Fiona Flora Frank Gavin Gemma Gideon Gloria Gordon Greta Hank "
    "Harriet Hector Helena Henry Hilda Homer Ida Igor Imogen Irene Isaac Ivy Jasper Jean Jonas Joy "
    "Julian Juno Karl Kate Keith Kira Lance Laura Leon Lila Lionel Lorna Lucas Lydia Magnus Mara "
    "Martin Maude Milo Mina Morris Nadia Nathan Nell Nigel Nora Olaf Olive Oscar Paige Parker Pearl "
    "Percy Petra Quentin Quinn Ralph Rhea Rufus Ruth Samson Sara Silas Sonia Stella Tobias Tessa "
    "Ulric Una Vance Vera Victor Violet Walter Wanda Xavier Yara Yves Zelda Zane"
).split()

LAST_NAMES = (
    "Abbott Acosta Aldridge Ashby Bain Barlow Beck Bishop Blake Bowen Boyd Brandt Burke Cain "
    "Carver Chandler Clay Cobb Conway Crane Cross Dalton Dawes Dorsey Drake Duffy Dunn Eaton Ellis "
    "Emery Farley Finch Fleming Ford Foster Frost Gale Garner Gibbs Glover Graves Hale Hardy Harlow "
    "Hayes Hobbs Holt Hood Hurst Ingram Irwin Jarvis Keane Kemp Kirby Knox Lamb Lane Lowe Lyle Mace "
    "Marsh Mayer Mercer Moody Nash Nolan Norris Oakley Orton Page Parks Pike Pratt Quill Ramsey "
    "Reed Rhodes Riley Rowe Sadler Sayer Shaw Slade Snow Stone Swift Tate Thorne Tully Upton Vale "
    "Vance Voss Wade Walsh Ward Webb Wilde Wolfe Wren Yates York Young Zeller"
).split()

# Bag-of-words content (r4/r5) and sentence material (r6). Deliberately plain, generic English.
COMMON_WORDS = (
    "about above across after again against along already also always among ancient another answer "
    "around army autumn bank basin before began behind being below beside between beyond board body "
    "bridge bright building called camp canal capital careful carried castle central century change "
    "charter circle city coast collection college common company council country county course court "
    "crowd current daily decade deep delta design desert direct distant district divided early earth "
    "eastern edition empire energy engine entire estate event every evidence example factory family "
    "famous farmer field final finished first floor forest formal former forward found garden general "
    "glass golden government grand great green ground group growth harbor harvest heavy height "
    "highway history holiday honest house however hundred island journal journey kingdom known label "
    "labour large later leader league level library light limited local lower major market meadow "
    "measure member middle military minor model modern moment mountain museum music narrow nation "
    "natural nearby network north notable novel number ocean office official opened orchard order "
    "origin other outer owner painted palace parish party passage period plain planet plant player "
    "pocket point popular port power present press private program public quarter quiet railway "
    "range rapid record region remain report river road royal rural sailed school season second "
    "service settled seven shore signal silver simple single small society soldier south spring "
    "square station steady stone storm street strong studio summer system table temple theatre "
    "thousand timber tower trade travel treaty valley village visible voyage water weekly western "
    "wheel window winter within wooden worker writer yellow young"
).split()

JOB_WORDS = (
    "resume salary opening benefits position career interview candidate hiring recruiter skills "
    "experience apply relocation offer contract senior junior engineer analyst openings permanent "
    "compensation qualifications team growth employer application portfolio references"
).split()

LEAK_WORDS = (
    "secret leak exposure hidden insider evidence disclose source anonymous whistle archive "
    "documents classified confidential truth release reveal cover dossier"
).split()

KEYLOG_WORDS = (
    "keystroke capture monitor stealth invisible logging record password remote install agent "
    "spy trial download hidden screenshot tracker undetected"
).split()

COMPLAINT_WORDS = (
    "unfair overworked ignored deserve frustrated undervalued angry quit enough promised raise "
    "respect blame stressful unacceptable tired"
).split()

REPLY_WORDS = (
    "understand discuss tomorrow valued calm meeting support patience review appreciate schedule "
    "together options workload"
).split()

HOBBY_TOPICS = (
    "sailing trips",
    "garden planning",
    "marathon training",
    "camping gear",
    "bird watching",
    "home brewing",
    "chess club",
    "road cycling",
    "family photos",
    "wood carving",
)

# Domain pools: public, generic web sites (a small hand-written list), job sites and competitors.
WEB_DOMAINS = (
    "newsdaily.com weatherhub.com sportscentral.com cookbookly.com travelnotes.com techreview.com "
    "moviebuzz.com musicstream.com shopmart.com auctionplace.com bankonline.com mapfinder.com "
    "photoshare.com videotube.com socialcircle.com encyclopedia.org citypaper.com gardenworld.com "
    "autotrader.net healthline.net financenews.com stocktracker.com gamezone.com bookshelf.com "
    "recipebox.com petcare.com homedepotplus.com familytree.com fitnesspal.net podcastplanet.com "
    "scienceweek.org historyfacts.org localradio.com comicstrip.com realestate.net flightdeals.com "
    "hoteldeals.com couponworld.com electronicsdepot.com outdoorgear.com"
).split()

JOB_DOMAINS = ("jobsearchhub.com careerlink.com hireboard.com resumepost.com worknet.com talentfinder.com").split()

COMPETITOR_DOMAINS = ("aerodyne.com", "vectorsys.com", "northstar-defense.com", "skylinetech.com")

PERSONAL_DOMAINS = (
    "mailbox.net homemail.com inboxplus.com netmail.org webpost.net quickmail.com coolmail.net fastpost.com"
).split()

LEAK_SITE = "wikileaks.org"
KEYLOGGER_DOMAINS = ("www.keycapture-pro.com", "www.stealthlogger.net", "www.spykeys.com")
CLOUD_UPLOAD = "https://www.dropbox.com/home"

URL_EXTENSIONS = ("html", "htm", "php", "jsp", "aspx", "asp")
FILE_EXTENSIONS = ("doc", "pdf", "zip", "jpg", "txt", "exe")
# Share of extensions among file rows (r4.2 head: doc 1517, pdf 537, zip 145, jpg 142, txt 141, exe 18).
FILE_EXTENSION_WEIGHTS = (0.607, 0.215, 0.058, 0.057, 0.056, 0.007)
FILE_HEADERS = {
    "doc": "D0-CF-11-E0-A1-B1-1A-E1",
    "pdf": "25-50-44-46-2D",
    "zip": "50-4B-03-04-14",
    "jpg": "FF-D8",
    "exe": "4D-5A-90-00-03-00-00-00-04-00-00-00-FF-FF-00-00-B8-00-00-00-00-00-00-00-40-00",
    # txt files get a random 4-byte header (see content.file_header)
}


_ROT13 = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM",
)


def rot13(text: str) -> str:
    """URL tokens in CERT look ROT13-encoded; we encode our own words the same way."""
    return text.translate(_ROT13)
