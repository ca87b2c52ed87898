from mailbot.cli import entry

# Guarded: worker processes (mailbot/ahead.py) may import this module.
if __name__ == "__main__":
    entry()
