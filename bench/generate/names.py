"""Names, addresses and phone numbers that look like a real, international patient population.

Surnames are shared the way real ones are (a Zipf-like law: a few very common, a long tail of rare
ones, built from real names plus composed ones), first names are skewed more mildly, and many carry
accents and other non-ASCII letters (José, Zoë, Müller, Łukasz, Nguyễn) so that accent-insensitive
search and normalisation meet them. Emails are the ASCII-folded name plus a unique number.
"""

from __future__ import annotations

import random
import unicodedata

from bench.generate.rand import Weighted, zipf_weights


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Maria James John Robert Michael William David Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica "
    "Sarah Karen Daniel Matthew Anthony Mark Emily Olivia Emma Sophia Ava Mia Liam Noah Oliver Elijah Lucas "
    "Mateo Levi Ezra Harper Evelyn Luca Aria Kai Chloe Yusuf Fatima Hiro Yuki Sven Ingrid Pieter Anouk Jonas "
    "Marta Diego Lucia Kwame Ama Ravi Priya Ahmed Aisha Omar Layla Wei Mei Jun Hana Ivan Olga Dmitri Anya "
    "Kofi Abena Tariq Leila Rahul Ananya Arjun Diya Thomas Anna Peter Laura Paul Julia Jan Eva Tom Sara "
    "José Zoë Chloé Renée Zoé Inés Ángel Joaquín Sebastián Andrés Verónica Mónica Raúl Héctor Óscar Nicolás "
    "Søren Björn Jürgen Jörg Günter Käthe Æsa Ørjan Åsa Łukasz Małgorzata Wojciech Zbigniew Paweł Jiří "
    "Dvořák Tomáš Ondřej Zuzana Dóra Ignác Eléonore Hélène Noël Anaïs Raphaël Maël Léa Thérèse Agnès "
    "François Françoise Jérôme Clément Aurélie Cécile Gaël Çağla Özlem Ayşe Şükrü Gülşen Đorđe Nguyệt "
    "Thảo Huyền Siobhán Seán Niamh Aoife Pádraig Bríd Ólafur Sigríður Þór Halldóra Miroslav Božena "
    "Renata Ilse Margarete Joël Benoît Cosimo Niccolò Ludovica Gérard Ramón Begoña Íñigo Ainhoa"
)

COMMON_SURNAMES = _words(
    "Smith Johnson Williams Brown Jones García Miller Davis Rodríguez Martínez Hernández López González "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Pérez Thompson White Harris Sánchez Clark "
    "Ramírez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyễn Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gómez Phillips Evans Turner Díaz Parker Cruz "
    "Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutiérrez Ortiz Morgan Cooper Peterson "
    "Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chávez Wood James Bennett Gray "
    "Mendoza Ruiz Hughes Price Álvarez Castillo Sanders Patel Myers Long Ross Foster Jiménez Müller Schmidt "
    "Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer Richter Klein Wolf "
    "Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt Werner Krause Köhler "
    "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti DeLuca "
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent Lefèvre Michel "
    "Garnier François Girard Bonnet Dupont Lambert Fontaine Rousseau Vincent Müller Muñoz Núñez Ibáñez "
    "Jansen DeVries VanDijk Bakker Visser Smit Meijer DeBoer Mulder DeGroot Bos Vos Peters Hendriks "
    "Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak Dąbrowski "
    "Novák Svoboda Novotný Dvořák Černý Procházka Kučera Veselý Horák Němec Andersson Johansson Karlsson "
    "Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson Bergström Åberg Sjöberg Lindqvist "
    "Hansen Nielsen Jensen Pedersen Østergaard Ødegaard Sørensen Mäkinen Virtanen Korhonen Nieminen "
    "Yılmaz Kaya Demir Şahin Çelik Yıldız Yıldırım Öztürk Aydın Özdemir Arslan Doğan Kovačević Jovanović "
    "Petrović Nikolić Horvat Babić Tanaka Sato Suzuki Takahashi Watanabe Itō Yamamoto Nakamura Kobayashi "
    "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ "
    "Singh Kumar Sharma Gupta Shah Mehta Reddy Rao Iyer Khan Ali Hussain Ahmed Rahman Haddad Cohen Levi "
    "Mizrahi Friedman Okafor Mensah Boateng Owusu Adeyemi Okonkwo Abubakar Mwangi Otieno Kamau Silva "
    "Santos Oliveira Souza Lima Pereira Costa Rodrigues Almeida Nascimento Araújo Ribeiro Carvalho Gonçalves "
    "O'Brien O'Connor O'Neill McCarthy Ó'Súilleabháin D'Angelo D'Amico Fitzgerald MacLeod Murray Byrne"
)

_SYLLABLES = _words(
    "ka ren bo lin mar ste van den berg holm ler son sen ek ova ich ski ra no vi tal mo ri ga ut fe "
    "lu na tho wen dal bri ce gor han ley vik dor sal ma te quin ro zel ath"
)
_ENDINGS = ("",) * 5 + ("s", "e", "o", "a", "sen", "son", "man", "er", "i", "ez", "ski", "ley", "ton", "ová", "ić")

EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "inbox.test", "post.test")

# Area codes that are in service, so the numbers look real (+1 NPA NXX XXXX).
US_AREA_CODES = _words(
    "201 202 203 205 206 207 208 209 210 212 213 214 215 216 217 218 219 224 225 228 229 231 234 239 240 248 "
    "251 252 253 254 256 260 262 267 269 270 276 281 301 302 303 304 305 307 308 309 310 312 313 314 315 316 "
    "317 318 319 320 321 323 325 330 334 336 337 339 347 351 352 360 361 385 386 401 402 404 405 406 407 408 "
    "409 410 412 413 414 415 417 419 423 425 430 432 434 435 440 443 469 478 479 480 484 501 502 503 504 505 "
    "507 508 509 510 512 513 515 516 517 518 520 530 540 541 551 559 561 562 563 567 570 571 573 574 575 580 "
    "585 586 601 602 603 605 606 607 608 609 610 612 614 615 616 617 618 619 620 623 626 630 631 636 641 646 "
    "650 651 660 661 662 678 682 701 702 703 704 706 707 708 712 713 714 715 716 717 718 719 720 724 727 731 "
    "732 734 740 754 757 760 763 765 770 772 773 774 775 781 785 786 801 802 803 804 805 806 808 810 812 813 "
    "814 815 816 817 818 828 830 831 832 843 845 847 848 850 856 857 858 859 860 862 863 864 865 870 878 901 "
    "903 904 906 907 908 909 910 912 913 914 915 916 917 918 919 920 925 928 931 936 937 940 941 947 949 951 "
    "952 954 956 970 971 972 973 978 979 980 985 989"
)
# (country code, mobile prefix, digits after the prefix)
FOREIGN_MOBILES = (("44", "7", 9), ("49", "15", 9), ("33", "6", 8), ("34", "6", 8), ("31", "6", 8), ("52", "1", 10))

STREETS = _words("Main Oak Maple Cedar Pine Elm Washington Lake Hill Park State Center Canyon Wasatch Temple Highland")
STREET_KINDS = ("St", "Ave", "Blvd", "Dr", "Ln", "Way", "Rd")
CITIES = ("Salt Lake City", "Provo", "Ogden", "West Valley City", "Orem", "Sandy", "St. George", "Logan", "Layton")


_UNSPLITTABLE = str.maketrans(
    {"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ı": "i"}
    | {"þ": "th", "Þ": "Th", "ð": "d", "'": "", " ": ""}
)


def fold(name: str) -> str:
    """ASCII form of a name for email addresses: accents dropped, letters that NFKD cannot split mapped."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_UNSPLITTABLE))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _composed_surnames(count: int) -> list[str]:
    rng = random.Random("surnames")
    seen = {name.lower() for name in COMMON_SURNAMES}
    result = []
    while len(result) < count:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3)))) + rng.choice(_ENDINGS)
        name = name.capitalize()
        if name.lower() not in seen:
            seen.add(name.lower())
            result.append(name)
    return result


class Names:
    """Skewed draws of first and last names, each with its email-safe folded form."""

    def __init__(self, *, tail: int = 20_000) -> None:
        firsts = list(dict.fromkeys(FIRST_NAMES))
        lasts = list(dict.fromkeys(COMMON_SURNAMES)) + _composed_surnames(tail)
        # The order of the lists is the popularity order; the accented names are spread through them.
        self.first = Weighted(firsts, zipf_weights(len(firsts), exponent=0.7, shift=10))
        self.last = Weighted(lasts, zipf_weights(len(lasts), exponent=1.0, shift=2.7))
        self.folded = {name: fold(name) for name in firsts + lasts}

    def pick(self, rng: random.Random) -> tuple[str, str]:
        return self.first.pick(rng), self.last.pick(rng)


def email(names: Names, first: str, last: str, number: int, rng: random.Random) -> str:
    """A unique, normalised (lower-case) address: the number makes it unique, whatever the name."""
    style = rng.random()
    local_first, local_last = names.folded[first], names.folded[last]
    if style < 0.5:
        local = f"{local_first}.{local_last}{number}"
    elif style < 0.8:
        local = f"{local_first[0]}{local_last}{number}"
    else:
        local = f"{local_last}.{local_first}.{number}"
    return f"{local}@{EMAIL_DOMAINS[number % len(EMAIL_DOMAINS)]}"


def phone(rng: random.Random) -> str:
    """An E.164 number: mostly North American, some European and Mexican mobiles."""
    if rng.random() < 0.85:
        return f"+1{rng.choice(US_AREA_CODES)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
    country, prefix, digits = rng.choice(FOREIGN_MOBILES)
    rest = digits - len(prefix)
    return f"+{country}{prefix}{rng.randrange(10 ** (rest - 1), 10**rest)}"


def street(rng: random.Random) -> str:
    return f"{rng.randint(10, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}"
