# Extract of MLflow's tests/helper_functions.py: only what the store suites import.
import random
import string


def random_str(size=10):
    msg = ""
    for _ in range(size):
        msg += random.choice(string.ascii_letters)
    return msg
