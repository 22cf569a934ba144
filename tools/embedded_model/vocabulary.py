"""The small closed world the embedded model's corpus talks about: its words and their facts.

One list per word class, as tuples (never sets: set order depends on string hashing and would
break the seeded reproducibility of every generator built on these lists). The corpus generator
(``corpus.py``) and the example-task generator (``task_data.py``) share this module, so the
fine-tuning tasks use words the model has seen, in forms it has not.
"""
from __future__ import annotations

from typing import NamedTuple


class Animal(NamedTuple):
    """An animal with the facts the corpus states about it."""

    name: str
    plural: str
    sound: str  # present tense, third person ("barks")
    home: str  # a place from PLACES
    food: str  # something it eats, plural or mass noun


ANIMALS: tuple[Animal, ...] = (
    Animal("dog", "dogs", "barks", "yard", "bones"),
    Animal("cat", "cats", "meows", "house", "fish"),
    Animal("cow", "cows", "moos", "farm", "grass"),
    Animal("duck", "ducks", "quacks", "pond", "bread"),
    Animal("pig", "pigs", "oinks", "farm", "apples"),
    Animal("sheep", "sheep", "baas", "field", "grass"),
    Animal("horse", "horses", "neighs", "farm", "carrots"),
    Animal("bird", "birds", "sings", "garden", "seeds"),
    Animal("owl", "owls", "hoots", "forest", "mice"),
    Animal("frog", "frogs", "croaks", "pond", "flies"),
    Animal("lion", "lions", "roars", "hill", "meat"),
    Animal("wolf", "wolves", "howls", "forest", "meat"),
    Animal("bear", "bears", "growls", "cave", "honey"),
    Animal("mouse", "mice", "squeaks", "house", "cheese"),
    Animal("fox", "foxes", "yelps", "forest", "berries"),
    Animal("rabbit", "rabbits", "squeaks", "field", "carrots"),
    Animal("goat", "goats", "bleats", "hill", "leaves"),
    Animal("hen", "hens", "clucks", "farm", "seeds"),
    Animal("bee", "bees", "buzzes", "garden", "flowers"),
    Animal("snake", "snakes", "hisses", "field", "eggs"),
    Animal("monkey", "monkeys", "chatters", "forest", "bananas"),
    Animal("turtle", "turtles", "sleeps", "lake", "leaves"),
)

# (singular, pronoun) — pronouns keep stories coherent.
PEOPLE: tuple[tuple[str, str], ...] = (
    ("boy", "he"), ("girl", "she"), ("man", "he"), ("woman", "she"), ("farmer", "he"),
    ("baker", "she"), ("teacher", "she"), ("king", "he"), ("queen", "she"), ("doctor", "he"),
    ("sailor", "he"), ("child", "she"), ("grandmother", "she"), ("grandfather", "he"),
    ("painter", "she"), ("fisherman", "he"),
)

NAMES: tuple[tuple[str, str], ...] = (
    ("Tom", "he"), ("Sam", "he"), ("Ben", "he"), ("Max", "he"), ("Leo", "he"), ("Jack", "he"),
    ("Finn", "he"), ("Omar", "he"), ("Mia", "she"), ("Lily", "she"), ("Anna", "she"),
    ("Emma", "she"), ("Rosa", "she"), ("Lucy", "she"), ("Nora", "she"), ("Zoe", "she"),
)

ADJECTIVES: tuple[str, ...] = (
    "little", "big", "old", "young", "happy", "sad", "kind", "brave", "shy", "clever", "hungry",
    "tired", "sleepy", "funny", "quiet", "tall", "small", "gentle", "busy", "lazy", "friendly",
    "curious",
)

COLORS: tuple[str, ...] = (
    "red", "blue", "green", "yellow", "brown", "white", "black", "pink", "orange", "gray",
)

# Things: (singular, plural, is_food)
THINGS: tuple[tuple[str, str, bool], ...] = (
    ("ball", "balls", False), ("apple", "apples", True), ("box", "boxes", False),
    ("book", "books", False), ("hat", "hats", False), ("cake", "cakes", True),
    ("stick", "sticks", False), ("cup", "cups", False), ("key", "keys", False),
    ("boat", "boats", False), ("kite", "kites", False), ("bun", "buns", True),
    ("flower", "flowers", False), ("stone", "stones", False), ("shoe", "shoes", False),
    ("bag", "bags", False), ("bell", "bells", False), ("lamp", "lamps", False),
    ("coat", "coats", False), ("map", "maps", False), ("basket", "baskets", False),
    ("drum", "drums", False), ("carrot", "carrots", True), ("cookie", "cookies", True),
    ("egg", "eggs", True), ("leaf", "leaves", False), ("pie", "pies", True),
    ("rope", "ropes", False), ("shell", "shells", False), ("toy", "toys", False),
    ("soup", "soups", True), ("letter", "letters", False),
)

# Places: (noun, preposition used for being there)
PLACES: tuple[tuple[str, str], ...] = (
    ("park", "in"), ("forest", "in"), ("river", "by"), ("garden", "in"), ("house", "in"),
    ("farm", "on"), ("hill", "on"), ("village", "in"), ("school", "at"), ("beach", "on"),
    ("kitchen", "in"), ("field", "in"), ("lake", "by"), ("town", "in"), ("market", "at"),
    ("pond", "by"), ("yard", "in"), ("road", "on"), ("cave", "in"), ("bridge", "on"),
)

TIMES: tuple[str, ...] = (
    "One day", "In the morning", "At night", "After lunch", "On Sunday", "Later", "Then",
    "The next day", "In the evening", "Every morning", "Before dinner", "Last summer",
)

# Verbs: (past, base)
INTRANSITIVE: tuple[tuple[str, str], ...] = (
    ("ran", "run"), ("jumped", "jump"), ("slept", "sleep"), ("sang", "sing"), ("walked", "walk"),
    ("laughed", "laugh"), ("cried", "cry"), ("played", "play"), ("danced", "dance"),
    ("waited", "wait"), ("smiled", "smile"), ("swam", "swim"), ("hid", "hide"), ("sat", "sit"),
    ("rested", "rest"),
)
TRANSITIVE_THING: tuple[tuple[str, str], ...] = (
    ("found", "find"), ("took", "take"), ("carried", "carry"), ("dropped", "drop"),
    ("lost", "lose"), ("liked", "like"), ("held", "hold"), ("bought", "buy"), ("wanted", "want"),
    ("painted", "paint"), ("washed", "wash"), ("opened", "open"),
)
TRANSITIVE_FOOD: tuple[tuple[str, str], ...] = (
    ("ate", "eat"), ("cooked", "cook"), ("shared", "share"), ("tasted", "taste"),
)
TRANSITIVE_BEING: tuple[tuple[str, str], ...] = (
    ("met", "meet"), ("helped", "help"), ("called", "call"), ("followed", "follow"),
    ("hugged", "hug"), ("chased", "chase"), ("saw", "see"), ("watched", "watch"),
)

# Opinion words, used generically in stories ("The cake was delicious.") and by the review task.
POSITIVE: tuple[str, ...] = (
    "good", "great", "lovely", "wonderful", "delicious", "beautiful", "fun", "nice", "perfect",
)
NEGATIVE: tuple[str, ...] = (
    "bad", "awful", "terrible", "boring", "cold", "dirty", "broken", "ugly", "horrible",
)
NEUTRAL: tuple[str, ...] = ("okay", "fine", "normal", "average", "plain", "ordinary")

# Adjectives that fit objects (colours fit them too).
THING_ADJECTIVES: tuple[str, ...] = ("big", "small", "old", "new", "little", "round", "heavy", "soft")

NUMBERS: tuple[str, ...] = ("two", "three", "four", "five", "six", "seven")

QUOTES: tuple[str, ...] = (
    "I am hungry", "Let us go to the {place}", "Look at the {animal}", "Where is my {thing}?",
    "Thank you", "Good night", "Can I play too?", "I like your {thing}", "Come with me",
    "It is time to go home", "What a {pos} day", "I can not find my {thing}",
    "Do you want some {food}?", "Be careful", "I will help you",
)


def article(word: str) -> str:
    """Return "a" or "an" for the following word (vowel letters only; enough for this world)."""
    return "an" if word[0] in "aeiou" else "a"
