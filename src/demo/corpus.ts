/**
 * The stories the built-in demo model learns from: short, simple, written for
 * edgelm. Words are separated by spaces; "." and "," are tokens of their own.
 * Changing this text changes the demo model (rebuild it with
 * `npm run build:demo-model` and update the pinned hash).
 */
export const DEMO_STORIES: readonly string[] = [
  "Once upon a time , there was a girl named Mia . Mia had a red ball . She played with the ball all day . Mia was happy .",
  "Once upon a time , there was a boy named Tom . Tom had a small dog . The dog liked to play in the park . Tom and the dog played all day .",
  "One day , Lily found a big box . The box was red . Lily showed the box to Max . Max was happy .",
  "One day , Max went to the park . He saw a big cat . The cat was sad . Max gave the cat a ball . The cat was happy .",
  "Mia and Lily went to the park . They found a small bird in a tree . The bird was sad . Lily gave the bird some bread . The bird was happy .",
  "Once upon a time , there was a big dog named Max . Max had a blue box . He played with the box all day . Max was very happy .",
  "One day , Tom saw a small cat under a tree . The cat was sad . Tom said , look at the cat . Mom gave the cat some milk .",
  "Lily had a big red ball . She showed the ball to Tom . Tom and Lily played in the park all day . It was fun .",
  "Once upon a time , there was a girl named Lily . Lily liked to play with her dog . The dog ran to the park . Lily ran home .",
  "One day , Mia found a blue bird . The bird was very small . Mia showed the bird to Mom . Mom smiled . Mia was happy .",
  "Tom had a red box . He gave the box to Mia . Mia said , thank you . She smiled and played with the box all day .",
  "One day , the sun was big and the sky was blue . Max and Tom went to the park . They jumped and ran . It was a fun day .",
];
