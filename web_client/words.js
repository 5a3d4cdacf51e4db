// Made by scripts/game_words.py: do not edit by hand.
export default {
 "about": "Words of the play mode (web_client/game.js), made by scripts/game_words.py from the model's evaluation (doodle-mobile0.75-345-r2): left out are words people cannot draw in 20 s, twins the model confuses, and words it gets right under 70% of the time; each with its reason.",
 "words": [
  {
   "word": "The Eiffel Tower",
   "say": "the Eiffel Tower"
  },
  {
   "word": "airplane",
   "say": "an airplane"
  },
  {
   "word": "alarm clock",
   "say": "an alarm clock"
  },
  {
   "word": "ambulance",
   "say": "an ambulance"
  },
  {
   "word": "angel",
   "say": "an angel"
  },
  {
   "word": "ant",
   "say": "an ant"
  },
  {
   "word": "anvil",
   "say": "an anvil"
  },
  {
   "word": "apple",
   "say": "an apple"
  },
  {
   "word": "asparagus",
   "say": "asparagus"
  },
  {
   "word": "backpack",
   "say": "a backpack"
  },
  {
   "word": "banana",
   "say": "a banana"
  },
  {
   "word": "bandage",
   "say": "a bandage"
  },
  {
   "word": "barn",
   "say": "a barn"
  },
  {
   "word": "baseball",
   "say": "a baseball"
  },
  {
   "word": "baseball bat",
   "say": "a baseball bat"
  },
  {
   "word": "basketball",
   "say": "a basketball"
  },
  {
   "word": "bat",
   "say": "a bat"
  },
  {
   "word": "bathtub",
   "say": "a bathtub"
  },
  {
   "word": "beach",
   "say": "a beach"
  },
  {
   "word": "bee",
   "say": "a bee"
  },
  {
   "word": "bicycle",
   "say": "a bicycle"
  },
  {
   "word": "binoculars",
   "say": "a binoculars"
  },
  {
   "word": "book",
   "say": "a book"
  },
  {
   "word": "boomerang",
   "say": "a boomerang"
  },
  {
   "word": "bowtie",
   "say": "a bowtie"
  },
  {
   "word": "brain",
   "say": "a brain"
  },
  {
   "word": "bridge",
   "say": "a bridge"
  },
  {
   "word": "broccoli",
   "say": "broccoli"
  },
  {
   "word": "bulldozer",
   "say": "a bulldozer"
  },
  {
   "word": "butterfly",
   "say": "a butterfly"
  },
  {
   "word": "cactus",
   "say": "a cactus"
  },
  {
   "word": "calculator",
   "say": "a calculator"
  },
  {
   "word": "camel",
   "say": "a camel"
  },
  {
   "word": "camera",
   "say": "a camera"
  },
  {
   "word": "campfire",
   "say": "a campfire"
  },
  {
   "word": "candle",
   "say": "a candle"
  },
  {
   "word": "canoe",
   "say": "a canoe"
  },
  {
   "word": "car",
   "say": "a car"
  },
  {
   "word": "carrot",
   "say": "a carrot"
  },
  {
   "word": "castle",
   "say": "a castle"
  },
  {
   "word": "cell phone",
   "say": "a cell phone"
  },
  {
   "word": "chair",
   "say": "a chair"
  },
  {
   "word": "chandelier",
   "say": "a chandelier"
  },
  {
   "word": "church",
   "say": "a church"
  },
  {
   "word": "clock",
   "say": "a clock"
  },
  {
   "word": "cloud",
   "say": "a cloud"
  },
  {
   "word": "cookie",
   "say": "a cookie"
  },
  {
   "word": "couch",
   "say": "a couch"
  },
  {
   "word": "cow",
   "say": "a cow"
  },
  {
   "word": "crab",
   "say": "a crab"
  },
  {
   "word": "crocodile",
   "say": "a crocodile"
  },
  {
   "word": "crown",
   "say": "a crown"
  },
  {
   "word": "cruise ship",
   "say": "a cruise ship"
  },
  {
   "word": "diamond",
   "say": "a diamond"
  },
  {
   "word": "donut",
   "say": "a donut"
  },
  {
   "word": "door",
   "say": "a door"
  },
  {
   "word": "dresser",
   "say": "a dresser"
  },
  {
   "word": "drill",
   "say": "a drill"
  },
  {
   "word": "drums",
   "say": "a drums"
  },
  {
   "word": "dumbbell",
   "say": "a dumbbell"
  },
  {
   "word": "ear",
   "say": "an ear"
  },
  {
   "word": "elbow",
   "say": "an elbow"
  },
  {
   "word": "elephant",
   "say": "an elephant"
  },
  {
   "word": "envelope",
   "say": "an envelope"
  },
  {
   "word": "eye",
   "say": "an eye"
  },
  {
   "word": "eyeglasses",
   "say": "eyeglasses"
  },
  {
   "word": "fence",
   "say": "a fence"
  },
  {
   "word": "fire hydrant",
   "say": "a fire hydrant"
  },
  {
   "word": "fireplace",
   "say": "a fireplace"
  },
  {
   "word": "firetruck",
   "say": "a firetruck"
  },
  {
   "word": "fish",
   "say": "a fish"
  },
  {
   "word": "flamingo",
   "say": "a flamingo"
  },
  {
   "word": "flashlight",
   "say": "a flashlight"
  },
  {
   "word": "flip flops",
   "say": "a flip flops"
  },
  {
   "word": "floor lamp",
   "say": "a floor lamp"
  },
  {
   "word": "flower",
   "say": "a flower"
  },
  {
   "word": "flying saucer",
   "say": "a flying saucer"
  },
  {
   "word": "fork",
   "say": "a fork"
  },
  {
   "word": "frying pan",
   "say": "a frying pan"
  },
  {
   "word": "garden",
   "say": "a garden"
  },
  {
   "word": "giraffe",
   "say": "a giraffe"
  },
  {
   "word": "goatee",
   "say": "a goatee"
  },
  {
   "word": "grass",
   "say": "grass"
  },
  {
   "word": "hamburger",
   "say": "a hamburger"
  },
  {
   "word": "hammer",
   "say": "a hammer"
  },
  {
   "word": "hand",
   "say": "a hand"
  },
  {
   "word": "harp",
   "say": "a harp"
  },
  {
   "word": "hat",
   "say": "a hat"
  },
  {
   "word": "headphones",
   "say": "headphones"
  },
  {
   "word": "hedgehog",
   "say": "a hedgehog"
  },
  {
   "word": "helicopter",
   "say": "a helicopter"
  },
  {
   "word": "helmet",
   "say": "a helmet"
  },
  {
   "word": "horse",
   "say": "a horse"
  },
  {
   "word": "hospital",
   "say": "a hospital"
  },
  {
   "word": "hot air balloon",
   "say": "a hot air balloon"
  },
  {
   "word": "hot dog",
   "say": "a hot dog"
  },
  {
   "word": "hot tub",
   "say": "a hot tub"
  },
  {
   "word": "hourglass",
   "say": "a hourglass"
  },
  {
   "word": "house",
   "say": "a house"
  },
  {
   "word": "house plant",
   "say": "a house plant"
  },
  {
   "word": "ice cream",
   "say": "an ice cream"
  },
  {
   "word": "jacket",
   "say": "a jacket"
  },
  {
   "word": "jail",
   "say": "a jail"
  },
  {
   "word": "kangaroo",
   "say": "a kangaroo"
  },
  {
   "word": "key",
   "say": "a key"
  },
  {
   "word": "knee",
   "say": "a knee"
  },
  {
   "word": "ladder",
   "say": "a ladder"
  },
  {
   "word": "lantern",
   "say": "a lantern"
  },
  {
   "word": "laptop",
   "say": "a laptop"
  },
  {
   "word": "leaf",
   "say": "a leaf"
  },
  {
   "word": "light bulb",
   "say": "a light bulb"
  },
  {
   "word": "lighter",
   "say": "a lighter"
  },
  {
   "word": "lighthouse",
   "say": "a lighthouse"
  },
  {
   "word": "lightning",
   "say": "lightning"
  },
  {
   "word": "lion",
   "say": "a lion"
  },
  {
   "word": "lipstick",
   "say": "a lipstick"
  },
  {
   "word": "lollipop",
   "say": "a lollipop"
  },
  {
   "word": "mailbox",
   "say": "a mailbox"
  },
  {
   "word": "megaphone",
   "say": "a megaphone"
  },
  {
   "word": "mermaid",
   "say": "a mermaid"
  },
  {
   "word": "microphone",
   "say": "a microphone"
  },
  {
   "word": "microwave",
   "say": "a microwave"
  },
  {
   "word": "monkey",
   "say": "a monkey"
  },
  {
   "word": "mountain",
   "say": "a mountain"
  },
  {
   "word": "mouth",
   "say": "a mouth"
  },
  {
   "word": "mushroom",
   "say": "a mushroom"
  },
  {
   "word": "necklace",
   "say": "a necklace"
  },
  {
   "word": "nose",
   "say": "a nose"
  },
  {
   "word": "ocean",
   "say": "an ocean"
  },
  {
   "word": "octopus",
   "say": "an octopus"
  },
  {
   "word": "onion",
   "say": "an onion"
  },
  {
   "word": "paint can",
   "say": "a paint can"
  },
  {
   "word": "palm tree",
   "say": "a palm tree"
  },
  {
   "word": "pants",
   "say": "pants"
  },
  {
   "word": "paper clip",
   "say": "a paper clip"
  },
  {
   "word": "parachute",
   "say": "a parachute"
  },
  {
   "word": "passport",
   "say": "a passport"
  },
  {
   "word": "pear",
   "say": "a pear"
  },
  {
   "word": "peas",
   "say": "peas"
  },
  {
   "word": "penguin",
   "say": "a penguin"
  },
  {
   "word": "piano",
   "say": "a piano"
  },
  {
   "word": "picture frame",
   "say": "a picture frame"
  },
  {
   "word": "pig",
   "say": "a pig"
  },
  {
   "word": "pineapple",
   "say": "a pineapple"
  },
  {
   "word": "pizza",
   "say": "a pizza"
  },
  {
   "word": "police car",
   "say": "a police car"
  },
  {
   "word": "popsicle",
   "say": "a popsicle"
  },
  {
   "word": "power outlet",
   "say": "a power outlet"
  },
  {
   "word": "purse",
   "say": "a purse"
  },
  {
   "word": "rabbit",
   "say": "a rabbit"
  },
  {
   "word": "rain",
   "say": "rain"
  },
  {
   "word": "rainbow",
   "say": "a rainbow"
  },
  {
   "word": "rake",
   "say": "a rake"
  },
  {
   "word": "remote control",
   "say": "a remote control"
  },
  {
   "word": "rhinoceros",
   "say": "a rhinoceros"
  },
  {
   "word": "rifle",
   "say": "a rifle"
  },
  {
   "word": "rollerskates",
   "say": "a rollerskates"
  },
  {
   "word": "sailboat",
   "say": "a sailboat"
  },
  {
   "word": "sandwich",
   "say": "a sandwich"
  },
  {
   "word": "saw",
   "say": "a saw"
  },
  {
   "word": "saxophone",
   "say": "a saxophone"
  },
  {
   "word": "scissors",
   "say": "scissors"
  },
  {
   "word": "scorpion",
   "say": "a scorpion"
  },
  {
   "word": "sea turtle",
   "say": "a sea turtle"
  },
  {
   "word": "see saw",
   "say": "a see saw"
  },
  {
   "word": "shark",
   "say": "a shark"
  },
  {
   "word": "sheep",
   "say": "a sheep"
  },
  {
   "word": "shoe",
   "say": "a shoe"
  },
  {
   "word": "shorts",
   "say": "shorts"
  },
  {
   "word": "sink",
   "say": "a sink"
  },
  {
   "word": "skateboard",
   "say": "a skateboard"
  },
  {
   "word": "skull",
   "say": "a skull"
  },
  {
   "word": "smiley face",
   "say": "a smiley face"
  },
  {
   "word": "snail",
   "say": "a snail"
  },
  {
   "word": "snake",
   "say": "a snake"
  },
  {
   "word": "snorkel",
   "say": "a snorkel"
  },
  {
   "word": "snowflake",
   "say": "a snowflake"
  },
  {
   "word": "snowman",
   "say": "a snowman"
  },
  {
   "word": "soccer ball",
   "say": "a soccer ball"
  },
  {
   "word": "sock",
   "say": "a sock"
  },
  {
   "word": "spoon",
   "say": "a spoon"
  },
  {
   "word": "spreadsheet",
   "say": "a spreadsheet"
  },
  {
   "word": "squirrel",
   "say": "a squirrel"
  },
  {
   "word": "stairs",
   "say": "stairs"
  },
  {
   "word": "star",
   "say": "a star"
  },
  {
   "word": "steak",
   "say": "a steak"
  },
  {
   "word": "stop sign",
   "say": "a stop sign"
  },
  {
   "word": "stove",
   "say": "a stove"
  },
  {
   "word": "strawberry",
   "say": "a strawberry"
  },
  {
   "word": "streetlight",
   "say": "a streetlight"
  },
  {
   "word": "submarine",
   "say": "a submarine"
  },
  {
   "word": "sun",
   "say": "a sun"
  },
  {
   "word": "swan",
   "say": "a swan"
  },
  {
   "word": "swing set",
   "say": "a swing set"
  },
  {
   "word": "sword",
   "say": "a sword"
  },
  {
   "word": "syringe",
   "say": "a syringe"
  },
  {
   "word": "t-shirt",
   "say": "a t-shirt"
  },
  {
   "word": "table",
   "say": "a table"
  },
  {
   "word": "teapot",
   "say": "a teapot"
  },
  {
   "word": "teddy-bear",
   "say": "a teddy-bear"
  },
  {
   "word": "television",
   "say": "a television"
  },
  {
   "word": "tennis racquet",
   "say": "a tennis racquet"
  },
  {
   "word": "tent",
   "say": "a tent"
  },
  {
   "word": "toaster",
   "say": "a toaster"
  },
  {
   "word": "toe",
   "say": "a toe"
  },
  {
   "word": "toilet",
   "say": "a toilet"
  },
  {
   "word": "tooth",
   "say": "a tooth"
  },
  {
   "word": "toothbrush",
   "say": "a toothbrush"
  },
  {
   "word": "tornado",
   "say": "a tornado"
  },
  {
   "word": "tractor",
   "say": "a tractor"
  },
  {
   "word": "traffic light",
   "say": "a traffic light"
  },
  {
   "word": "train",
   "say": "a train"
  },
  {
   "word": "tree",
   "say": "a tree"
  },
  {
   "word": "umbrella",
   "say": "an umbrella"
  },
  {
   "word": "vase",
   "say": "a vase"
  },
  {
   "word": "washing machine",
   "say": "a washing machine"
  },
  {
   "word": "waterslide",
   "say": "a waterslide"
  },
  {
   "word": "whale",
   "say": "a whale"
  },
  {
   "word": "wheel",
   "say": "a wheel"
  },
  {
   "word": "windmill",
   "say": "a windmill"
  },
  {
   "word": "wine bottle",
   "say": "a wine bottle"
  },
  {
   "word": "wine glass",
   "say": "a wine glass"
  },
  {
   "word": "wristwatch",
   "say": "a wristwatch"
  },
  {
   "word": "zebra",
   "say": "a zebra"
  }
 ],
 "excluded": {
  "The Great Wall of China": "too slow to draw in 20 seconds",
  "The Mona Lisa": "too slow to draw in 20 seconds",
  "aircraft carrier": "the model gets only 38% of real drawings of it right (under 70%)",
  "animal migration": "an idea, not a thing: no one draws it the same way",
  "arm": "the model gets only 61% of real drawings of it right (under 70%)",
  "axe": "the model gets only 59% of real drawings of it right (under 70%)",
  "basket": "the model gets only 67% of real drawings of it right (under 70%)",
  "bear": "the model gets only 33% of real drawings of it right (under 70%)",
  "beard": "the model gets only 8% of real drawings of it right (under 70%)",
  "bed": "the model gets only 69% of real drawings of it right (under 70%)",
  "belt": "the model gets only 50% of real drawings of it right (under 70%)",
  "bench": "the model gets only 44% of real drawings of it right (under 70%)",
  "bird": "the model gets only 39% of real drawings of it right (under 70%)",
  "birthday cake": "the model often reads it as cake (8 of its evaluation drawings)",
  "blackberry": "the model gets only 14% of real drawings of it right (under 70%)",
  "blueberry": "the model gets only 40% of real drawings of it right (under 70%)",
  "bottlecap": "the model gets only 56% of real drawings of it right (under 70%)",
  "bracelet": "the model gets only 60% of real drawings of it right (under 70%)",
  "bread": "the model gets only 44% of real drawings of it right (under 70%)",
  "broom": "the model gets only 67% of real drawings of it right (under 70%)",
  "bucket": "the model gets only 68% of real drawings of it right (under 70%)",
  "bus": "the model gets only 58% of real drawings of it right (under 70%)",
  "bush": "the model gets only 61% of real drawings of it right (under 70%)",
  "cake": "the model often reads it as birthday cake (7 of its evaluation drawings)",
  "calendar": "the model gets only 69% of real drawings of it right (under 70%)",
  "camouflage": "an idea, not a thing: drawn as anything",
  "cannon": "the model gets only 62% of real drawings of it right (under 70%)",
  "cat": "the model gets only 57% of real drawings of it right (under 70%)",
  "ceiling fan": "the model gets only 68% of real drawings of it right (under 70%)",
  "cello": "the model gets only 60% of real drawings of it right (under 70%)",
  "circle": "too easy: one stroke",
  "clarinet": "the model gets only 59% of real drawings of it right (under 70%)",
  "coffee cup": "a twin of cup and mug",
  "compass": "the model gets only 68% of real drawings of it right (under 70%)",
  "computer": "the model gets only 60% of real drawings of it right (under 70%)",
  "cooler": "the model gets only 35% of real drawings of it right (under 70%)",
  "crayon": "the model gets only 66% of real drawings of it right (under 70%)",
  "cup": "the model often reads it as mug (10 of its evaluation drawings)",
  "dishwasher": "the model gets only 63% of real drawings of it right (under 70%)",
  "diving board": "the model gets only 52% of real drawings of it right (under 70%)",
  "dog": "the model gets only 35% of real drawings of it right (under 70%)",
  "dolphin": "the model gets only 65% of real drawings of it right (under 70%)",
  "dragon": "the model gets only 67% of real drawings of it right (under 70%)",
  "duck": "the model gets only 63% of real drawings of it right (under 70%)",
  "eraser": "the model gets only 59% of real drawings of it right (under 70%)",
  "face": "the model often reads it as smiley face (7 of its evaluation drawings)",
  "fan": "the model gets only 53% of real drawings of it right (under 70%)",
  "feather": "the model gets only 64% of real drawings of it right (under 70%)",
  "finger": "the model gets only 63% of real drawings of it right (under 70%)",
  "foot": "the model gets only 62% of real drawings of it right (under 70%)",
  "frog": "the model gets only 56% of real drawings of it right (under 70%)",
  "garden hose": "the model gets only 18% of real drawings of it right (under 70%)",
  "golf club": "the model often reads it as hockey stick (8 of its evaluation drawings)",
  "grapes": "the model often reads it as peas (7 of its evaluation drawings)",
  "guitar": "the model gets only 67% of real drawings of it right (under 70%)",
  "hexagon": "the model often reads it as octagon (8 of its evaluation drawings)",
  "hockey puck": "the model gets only 65% of real drawings of it right (under 70%)",
  "hockey stick": "a twin of golf club",
  "hurricane": "drawn as a spiral like tornado",
  "keyboard": "the model gets only 54% of real drawings of it right (under 70%)",
  "knife": "the model gets only 52% of real drawings of it right (under 70%)",
  "leg": "the model gets only 51% of real drawings of it right (under 70%)",
  "line": "too easy: one stroke",
  "lobster": "the model gets only 60% of real drawings of it right (under 70%)",
  "map": "the model gets only 59% of real drawings of it right (under 70%)",
  "marker": "the model gets only 30% of real drawings of it right (under 70%)",
  "matches": "the model gets only 62% of real drawings of it right (under 70%)",
  "moon": "the model gets only 56% of real drawings of it right (under 70%)",
  "mosquito": "the model gets only 55% of real drawings of it right (under 70%)",
  "motorbike": "the model often reads it as bicycle (8 of its evaluation drawings)",
  "mouse": "the model gets only 43% of real drawings of it right (under 70%)",
  "moustache": "the model gets only 59% of real drawings of it right (under 70%)",
  "mug": "a twin of cup and coffee cup",
  "nail": "the model gets only 64% of real drawings of it right (under 70%)",
  "octagon": "the model often reads it as hexagon (8 of its evaluation drawings)",
  "oven": "the model gets only 36% of real drawings of it right (under 70%)",
  "owl": "the model gets only 63% of real drawings of it right (under 70%)",
  "paintbrush": "the model gets only 59% of real drawings of it right (under 70%)",
  "panda": "the model gets only 24% of real drawings of it right (under 70%)",
  "parrot": "the model gets only 58% of real drawings of it right (under 70%)",
  "peanut": "the model gets only 64% of real drawings of it right (under 70%)",
  "pencil": "the model often reads it as crayon (7 of its evaluation drawings)",
  "pickup truck": "a twin of truck",
  "pillow": "the model gets only 52% of real drawings of it right (under 70%)",
  "pliers": "the model gets only 50% of real drawings of it right (under 70%)",
  "pond": "the model gets only 36% of real drawings of it right (under 70%)",
  "pool": "the model gets only 26% of real drawings of it right (under 70%)",
  "postcard": "the model gets only 60% of real drawings of it right (under 70%)",
  "potato": "the model gets only 49% of real drawings of it right (under 70%)",
  "raccoon": "the model gets only 22% of real drawings of it right (under 70%)",
  "radio": "the model gets only 67% of real drawings of it right (under 70%)",
  "river": "the model gets only 58% of real drawings of it right (under 70%)",
  "roller coaster": "the model gets only 62% of real drawings of it right (under 70%)",
  "school bus": "the model gets only 38% of real drawings of it right (under 70%)",
  "screwdriver": "the model gets only 56% of real drawings of it right (under 70%)",
  "shovel": "the model gets only 68% of real drawings of it right (under 70%)",
  "skyscraper": "the model gets only 66% of real drawings of it right (under 70%)",
  "sleeping bag": "the model gets only 59% of real drawings of it right (under 70%)",
  "speedboat": "the model gets only 67% of real drawings of it right (under 70%)",
  "spider": "the model gets only 69% of real drawings of it right (under 70%)",
  "square": "too easy: one stroke",
  "squiggle": "too easy: one stroke",
  "stereo": "the model gets only 64% of real drawings of it right (under 70%)",
  "stethoscope": "the model gets only 61% of real drawings of it right (under 70%)",
  "stitches": "the model gets only 70% of real drawings of it right (under 70%)",
  "string bean": "a twin of peas",
  "suitcase": "the model gets only 65% of real drawings of it right (under 70%)",
  "sweater": "the model gets only 65% of real drawings of it right (under 70%)",
  "telephone": "the model gets only 65% of real drawings of it right (under 70%)",
  "tiger": "the model gets only 50% of real drawings of it right (under 70%)",
  "toothpaste": "the model gets only 65% of real drawings of it right (under 70%)",
  "triangle": "too easy: one stroke",
  "trombone": "the model gets only 43% of real drawings of it right (under 70%)",
  "truck": "the model often reads it as pickup truck (10 of its evaluation drawings)",
  "trumpet": "the model gets only 58% of real drawings of it right (under 70%)",
  "underwear": "the model gets only 70% of real drawings of it right (under 70%)",
  "van": "the model gets only 53% of real drawings of it right (under 70%)",
  "violin": "the model gets only 62% of real drawings of it right (under 70%)",
  "watermelon": "the model gets only 70% of real drawings of it right (under 70%)",
  "yoga": "a pose, drawn as a stick figure like many others",
  "zigzag": "too easy: one stroke"
 }
};
