/**
 * Short stories written for the adaptation tests (our own text, in the simple style stories260K was trained on):
 * three shards about different things, so a model tuned on one shard learns something the others do not say.
 */

export const SHARD_GARDEN = `Mia had a small garden behind her house. Every morning she gave water to the red flowers and the green beans. One day she saw a tiny snail on a leaf. "Hello, little snail," said Mia. The snail was slow, but it was happy in the garden. Mia built a little house of stones for the snail. When the rain came, the snail hid in the stone house and stayed dry. Mia smiled and said, "Now you have a home too."
The next day Mia and her brother Sam planted new seeds. Sam dug the holes and Mia put one seed in each hole. They covered the seeds with soft dirt and gave them water. "When will they grow?" asked Sam. "Soon," said Mia. "We must wait and give them sun and water." After many days, small green shoots came up. Sam jumped and laughed. The garden was full of life, and the snail watched them from its stone house.
In the summer the beans grew tall and the flowers were bright. Mia picked the beans and her mom cooked them for dinner. Sam said they were the best beans in the world. Mia was proud of her garden.
`;

export const SHARD_BOAT = `Tom lived near a big blue lake. His grandpa had an old wooden boat with a white sail. One sunny day grandpa said, "Tom, do you want to sail with me?" Tom nodded and put on his yellow vest. They pushed the boat into the water and the wind filled the sail. The boat moved fast over the waves. Tom saw fish jump out of the water and birds fly over the lake.
Then dark clouds came and the wind was strong. Tom was scared. Grandpa held the rope and said, "Do not be afraid. We will go back to the shore." Grandpa turned the boat and they sailed home. When they reached the shore, the rain began. Tom and grandpa ran into the house and drank warm milk. "That was a big adventure," said Tom. Grandpa laughed and said, "Every sailor must learn to respect the wind."
The next week the sky was clear again. Tom helped grandpa paint the boat blue and white. They named the boat Little Star. Tom could not wait to sail on the lake again with his grandpa.
`;

export const SHARD_BAKERY = `Anna and her dad had a bakery on the corner of the street. Every day they baked bread, cakes and sweet buns. Anna liked to mix the flour and the eggs in a big bowl. Her dad put the dough in the hot oven. Soon the bakery smelled of warm bread, and people came in to buy it.
One morning a little boy came to the bakery with no money. He looked at the cakes with big sad eyes. Anna gave him a sweet bun and said, "This is for you." The boy smiled and said thank you. The next day the boy came back with his mom. She bought a big cake for his birthday and gave Anna a flower.
At night Anna and her dad cleaned the tables and the bowls. Dad said, "You were kind today, Anna." Anna felt happy and warm inside. She knew that a bakery is not only about bread. It is about making people smile. The next morning she woke up early to bake again.
`;
