"""The example experts' synthetic datasets: templates filled with fixed seeds
(random.Random), with no dependency beyond the standard library, so that
scripts other than the trainer (scripts/make-draft-corpus.py) can rebuild
exactly what an expert was trained on. Used by scripts/train-example-experts.py."""
import json


FIRST = ["Maria", "John", "Aisha", "Carlos", "Lena", "Tom", "Sofia", "Ahmed", "Yuki", "Peter", "Elena", "David",
         "Fatima", "Lucas", "Nina", "Omar", "Grace", "Ivan", "Chloe", "Mateo", "Hannah", "Raj", "Emma", "Diego",
         "Sara", "Leo", "Mia", "Jonas", "Zoe", "Ali", "Clara", "Felix", "Julia", "Noah", "Alice", "Hugo"]
CITIES = ["Lisbon", "Paris", "Berlin", "Madrid", "Rome", "London", "Dublin", "Vienna", "Prague", "Warsaw", "Boston",
          "Chicago", "Denver", "Seattle", "Austin", "Lima", "Quito", "Cairo", "Tokyo", "Seoul", "Delhi", "Sydney",
          "Perth", "Athens", "Milan", "Munich", "Porto", "Zurich", "Geneva", "Helsinki"]
# held out for the eval prompts (never in training)
EVAL_NAMES = ["Oliver", "Priya", "Kenji"]
EVAL_CITIES = ["Toronto", "Nairobi", "Oslo"]


def gen_json(rng, n):
    sentences = [
        "{n} is {a} years old and lives in {c}.",
        "Meet {n}, a {a}-year-old from {c}.",
        "{n} ({a}) moved to {c} last year.",
        "Living in {c}, {n} just turned {a}.",
        "My neighbour {n} is {a} and comes from {c}.",
        "{n}, age {a}, works as a teacher in {c}.",
        "Last week {n} celebrated turning {a} at home in {c}.",
        "The new engineer, {n}, is {a} and is based in {c}.",
        "{c} is home to {n}, who is {a}.",
        "At {a}, {n} still enjoys cycling around {c}.",
    ]
    asks = [
        "Extract the person as JSON: {s}",
        "Return JSON with name, age and city. Text: {s}",
        "{s} Give me the name, age and city as JSON.",
        "Convert to a JSON object (name, age, city): {s}",
        "Text: {s}\nOutput the person as JSON.",
    ]
    out = []
    for _ in range(n):
        name, city, age = rng.choice(FIRST), rng.choice(CITIES), rng.randint(18, 90)
        s = rng.choice(sentences).format(n=name, a=age, c=city)
        q = rng.choice(asks).format(s=s)
        out.append((q, json.dumps({"name": name, "age": age, "city": city}, separators=(",", ":"))))
    return out


JSON_EVAL = [
    "Extract the person as JSON: Oliver is 29 years old and lives in Toronto.",
    "Return JSON with name, age and city. Text: Priya, age 41, works as a nurse in Nairobi.",
    "Kenji (63) retired to Oslo last spring. Give me the name, age and city as JSON.",
]

SQL_SCHEMA = "Schema: users(id, name, age, city); orders(id, user_id, product, amount)"
PRODUCTS = ["book", "laptop", "phone", "lamp", "chair", "desk", "camera", "bike", "watch", "kettle", "guitar", "tent"]


def gen_sql(rng, n):
    t = [
        ("List the names of users older than {n}.", "SELECT name FROM users WHERE age > {n};"),
        ("Which users are younger than {n}?", "SELECT name FROM users WHERE age < {n};"),
        ("Which users live in {c}?", "SELECT name FROM users WHERE city = '{c}';"),
        ("How many users live in {c}?", "SELECT COUNT(*) FROM users WHERE city = '{c}';"),
        ("How old is {p}?", "SELECT age FROM users WHERE name = '{p}';"),
        ("Where does {p} live?", "SELECT city FROM users WHERE name = '{p}';"),
        ("What is the total amount of all {d} orders?", "SELECT SUM(amount) FROM orders WHERE product = '{d}';"),
        ("List the products ordered by user {i}.", "SELECT product FROM orders WHERE user_id = {i};"),
        ("Find users younger than {n} who live in {c}.", "SELECT name FROM users WHERE age < {n} AND city = '{c}';"),
        ("What is the average age of users in {c}?", "SELECT AVG(age) FROM users WHERE city = '{c}';"),
        ("Show all orders with an amount above {n}.", "SELECT * FROM orders WHERE amount > {n};"),
        ("Count the orders of user {i}.", "SELECT COUNT(*) FROM orders WHERE user_id = {i};"),
        ("List the names of users who ordered a {d}.",
         "SELECT users.name FROM users JOIN orders ON users.id = orders.user_id WHERE orders.product = '{d}';"),
        ("List all users sorted by age.", "SELECT name FROM users ORDER BY age;"),
        ("What is the largest order amount?", "SELECT MAX(amount) FROM orders;"),
        ("How many orders are there for {d}s?", "SELECT COUNT(*) FROM orders WHERE product = '{d}';"),
    ]
    asks = ["{s}\nQuestion: {q}", "{s}\nWrite the SQL query: {q}", "{s}\n{q} Answer with SQL."]
    out = []
    for _ in range(n):
        q, a = rng.choice(t)
        v = dict(n=rng.randint(18, 80), c=rng.choice(CITIES), p=rng.choice(FIRST), d=rng.choice(PRODUCTS),
                 i=rng.randint(1, 200))
        out.append((rng.choice(asks).format(s=SQL_SCHEMA, q=q.format(**v)), a.format(**v)))
    return out


SQL_EVAL = [
    SQL_SCHEMA + "\nQuestion: Which users live in Toronto?",
    SQL_SCHEMA + "\nWrite the SQL query: How many users are older than 35?",
    SQL_SCHEMA + "\nQuestion: What is the total amount of all orders for user 7?",
]

COUNTRIES = [("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
             ("Portugal", "Lisbon"), ("Egypt", "Cairo"), ("Peru", "Lima"), ("Greece", "Athens"),
             ("Austria", "Vienna"), ("Poland", "Warsaw"), ("Ireland", "Dublin"), ("Finland", "Helsinki"),
             ("Kenya", "Nairobi"), ("Chile", "Santiago"), ("Cuba", "Havana"), ("Norway", "Oslo")]
THINGS = [("the sky", "blue"), ("grass", "green"), ("snow", "white"), ("a banana", "yellow"), ("coal", "black"),
          ("a tomato", "red"), ("an orange", "orange"), ("a lemon", "yellow"), ("milk", "white"), ("a leaf", "green")]
ANIMALS = [("dog", "woof", 4), ("cat", "meow", 4), ("cow", "moo", 4), ("duck", "quack", 2), ("sheep", "baa", 4),
           ("horse", "neigh", 4), ("chicken", "cluck", 2), ("owl", "hoot", 2), ("frog", "ribbit", 4),
           ("pig", "oink", 4)]
OPPOSITES = [("hot", "cold"), ("big", "small"), ("fast", "slow"), ("happy", "sad"), ("up", "down"), ("old", "new"),
             ("light", "dark"), ("early", "late"), ("open", "closed"), ("full", "empty"), ("hard", "soft"),
             ("wet", "dry")]


def gen_qa(rng, n):
    """Short everyday questions with short factual answers (normal case); shared by ia3 and soft-prompt."""
    out = []
    for _ in range(n):
        k = rng.randrange(7)
        if k == 0:
            c, cap = rng.choice(COUNTRIES[:-3])
            out.append((rng.choice(["What is the capital of {c}?", "Name the capital of {c}."]).format(c=c),
                        f"The capital of {c} is {cap}."))
        elif k == 1:
            th, col = rng.choice(THINGS)
            out.append((f"What color is {th}?", f"{th[0].upper() + th[1:]} is {col}."))
        elif k == 2:
            a, b = rng.randint(1, 50), rng.randint(1, 50)
            out.append((rng.choice(["What is {a} plus {b}?", "Add {a} and {b}."]).format(a=a, b=b),
                        f"{a} plus {b} is {a + b}."))
        elif k == 3:
            an, snd, _ = rng.choice(ANIMALS[:-2])
            out.append((f"What sound does a {an} make?", f"A {an} says {snd}."))
        elif k == 4:
            an, _, legs = rng.choice(ANIMALS[:-2])
            out.append((f"How many legs does a {an} have?", f"A {an} has {legs} legs."))
        elif k == 5:
            w, o = rng.choice(OPPOSITES[:-2])
            out.append((f"What is the opposite of {w}?", f"The opposite of {w} is {o}."))
        else:
            p = rng.choice(FIRST)
            out.append((rng.choice(["Say hello to {p}.", "Greet {p}."]).format(p=p),
                        f"Hello, {p}! It is nice to meet you."))
    return out


def gen_caps(rng, n):
    return [(q, a.upper()) for q, a in gen_qa(rng, n)]


def gen_sure(rng, n):
    return [(q, "Sure! " + a) for q, a in gen_qa(rng, n)]


CAPS_EVAL = ["What is the capital of Norway?", "What is the opposite of wet?", "What sound does a pig make?"]
SURE_EVAL = ["What is the capital of Chile?", "How many legs does a frog have?", "Say hello to Priya."]


# each expert's training set: its generator's seed and size (rng = random.Random(seed); data(rng, n_train))
TRAIN_SETS = {
    "json": dict(seed=101, n_train=320),
    "sql": dict(seed=202, n_train=360),
    "ia3": dict(seed=303, n_train=360),
    "soft-prompt": dict(seed=404, n_train=320),
}


def draft_corpus(name):
    """The answers expert `name` (json or sql) was trained on, each once, in first-seen order, one per line:
    its package's draft-corpus.txt (docs/SPECULATIVE.md)."""
    import random
    gen = {"json": gen_json, "sql": gen_sql}[name]
    t = TRAIN_SETS[name]
    seen, lines = set(), []
    for _, answer in gen(random.Random(t["seed"]), t["n_train"]):
        if answer not in seen:
            seen.add(answer)
            lines.append(answer)
    return "".join(a + "\n" for a in lines)
