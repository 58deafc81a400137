"""Writes presets/data/demo-alpaca.jsonl: a small bilingual Alpaca dataset a tiny model learns.

Run once by the developers; the output is committed. Deterministic (fixed seed).
"""

import json
import random
from pathlib import Path

rng = random.Random(7)
CAPITALS = {"France": ("Paris", "法国", "巴黎"), "Japan": ("Tokyo", "日本", "东京"), "Italy": ("Rome", "意大利", "罗马"),
            "Germany": ("Berlin", "德国", "柏林"), "China": ("Beijing", "中国", "北京"), "Egypt": ("Cairo", "埃及", "开罗"),
            "Spain": ("Madrid", "西班牙", "马德里"), "Canada": ("Ottawa", "加拿大", "渥太华"), "Russia": ("Moscow", "俄罗斯", "莫斯科"),
            "Kenya": ("Nairobi", "肯尼亚", "内罗毕"), "Peru": ("Lima", "秘鲁", "利马"), "Greece": ("Athens", "希腊", "雅典")}
WORDS = {"cat": "猫", "dog": "狗", "water": "水", "fire": "火", "book": "书", "tree": "树", "moon": "月亮",
         "sun": "太阳", "rain": "雨", "bird": "鸟", "fish": "鱼", "flower": "花", "mountain": "山", "river": "河"}
COLORS = {"sky": ("blue", "天空", "蓝色"), "grass": ("green", "草", "绿色"), "snow": ("white", "雪", "白色"),
          "coal": ("black", "煤", "黑色"), "blood": ("red", "血", "红色"), "banana": ("yellow", "香蕉", "黄色")}

rows = []
for country, (city, country_zh, city_zh) in CAPITALS.items():
    rows.append({"instruction": f"What is the capital of {country}?", "input": "", "output": f"The capital of {country} is {city}."})
    rows.append({"instruction": f"{country_zh}的首都是哪里?", "input": "", "output": f"{country_zh}的首都是{city_zh}。"})
    rows.append({"instruction": "Name the capital city of the country below.", "input": country, "output": f"{city}."})
for word, zh in WORDS.items():
    rows.append({"instruction": "Translate the word into Chinese.", "input": word, "output": zh})
    rows.append({"instruction": "把这个词翻译成英文。", "input": zh, "output": word})
for thing, (color, thing_zh, color_zh) in COLORS.items():
    rows.append({"instruction": f"What color is {thing}?", "input": "", "output": f"{thing.capitalize()} is {color}."})
    rows.append({"instruction": f"{thing_zh}是什么颜色?", "input": "", "output": f"{thing_zh}是{color_zh}的。"})
for _ in range(150):
    a, b = rng.randint(1, 20), rng.randint(1, 20)
    if rng.random() < 0.5:
        rows.append({"instruction": "Add the two numbers.", "input": f"{a} and {b}", "output": f"{a} + {b} = {a + b}."})
    else:
        rows.append({"instruction": "计算两个数的和。", "input": f"{a} 和 {b}", "output": f"{a} 加 {b} 等于 {a + b}。"})
for _ in range(60):
    word = rng.choice(list(WORDS))
    rows.append({"instruction": "Spell the word backwards.", "input": word, "output": word[::-1]})
rng.shuffle(rows)
out = Path(__file__).resolve().parent.parent / "presets" / "data" / "demo-alpaca.jsonl"
out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
print(f"{len(rows)} rows -> {out}")
