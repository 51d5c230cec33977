import { describe, expect, it } from 'vitest';
import { documentGraph, KeywordEntityExtractor, mentionIn } from '../../src/services/graph/extraction.js';
import { entityId } from '../../src/stores/graph/graph-store.js';

const english = `OpenAI released GPT-4 in March 2023. The model was trained by OpenAI on Microsoft Azure infrastructure.
Large language models such as GPT-4 rely on the transformer architecture. The transformer architecture was introduced by
researchers at Google Brain. This work changed speech recognition, and speech recognition now runs in voice assistants.`;
const chinese =
  '人工智能是模拟人类智能的技术。机器学习是人工智能的一个分支，深度学习是机器学习的一种方法。神经网络在深度学习中广泛使用。李彦宏在北京认为人工智能将改变世界。';

describe('KeywordEntityExtractor', () => {
  const extractor = new KeywordEntityExtractor();

  it('finds proper-noun phrases and recurring key phrases in English', async () => {
    const entities = await extractor.extract(english);
    const byName = new Map(entities.map((e) => [e.name, e]));
    for (const name of ['OpenAI', 'GPT-4', 'Microsoft Azure', 'Google Brain'])
      expect(byName.get(name)?.type).toBe('NAME');
    for (const name of ['transformer architecture', 'speech recognition'])
      expect(byName.get(name)?.type).toBe('CONCEPT');
    // Sentence starts, stopwords and months are not entities; a phrase inside a longer one is not repeated.
    for (const name of ['The', 'This', 'Large', 'March', 'architecture', 'The model'])
      expect(byName.has(name)).toBe(false);
    // Two mentions rank above one.
    expect(byName.get('OpenAI')?.confidence).toBeGreaterThan(byName.get('Google Brain')?.confidence ?? 1);
    expect(byName.get('GPT-4')).toMatchObject({ position: english.indexOf('GPT-4') });
    expect(byName.get('Google Brain')?.context).toContain('researchers at Google Brain');
  });

  it('finds Chinese keywords with jieba, typed by part of speech, without generic nouns', async () => {
    const entities = await extractor.extract(chinese);
    const byName = new Map(entities.map((e) => [e.name, e]));
    for (const name of ['人工智能', '机器学习', '深度学习', '神经网络']) expect(byName.get(name)?.type).toBe('CONCEPT');
    expect(byName.get('李彦宏')?.type).toBe('PERSON');
    expect(byName.get('北京')?.type).toBe('PLACE');
    expect(byName.has('方法')).toBe(false);
    expect(entities[0]?.name).toBe('人工智能');
    expect(byName.get('机器学习')?.position).toBe(chinese.indexOf('机器学习'));
  });

  it('keeps at most the configured number of entities, best first', async () => {
    const entities = await new KeywordEntityExtractor(3).extract(`${english}\n${chinese}`);
    expect(entities).toHaveLength(3);
    const confidences = entities.map((e) => e.confidence);
    expect([...confidences].sort((a, b) => b - a)).toEqual(confidences);
  });

  it('takes a word that only ever starts sentences, always capitalised, for a name', async () => {
    const byName = new Map(
      (
        await extractor.extract(
          'Kubernetes schedules pods. Kubernetes restarts them. Scheduling matters; scheduling is hard.',
        )
      ).map((e) => [e.name, e]),
    );
    expect(byName.get('Kubernetes')?.type).toBe('NAME');
    expect(byName.get('scheduling')?.type).toBe('CONCEPT');
    expect(byName.has('Scheduling')).toBe(false);
  });

  it('finds nothing in text without entities', async () => {
    expect(await extractor.extract('')).toEqual([]);
    expect(await extractor.extract('it is what it is, and so it goes.')).toEqual([]);
  });
});

describe('documentGraph', () => {
  const document = { id: 'doc', ownerId: 'owner', title: 't' };
  const found = (name: string, type = 'NAME', confidence = 0.5) => ({
    name,
    type,
    confidence,
    position: 0,
    context: '',
  });

  it('merges entities by normalised name and type, and counts co-occurrence per chunk', () => {
    const graph = documentGraph(
      document,
      [
        found('OpenAI', 'NAME', 0.9),
        found('openai ', 'NAME', 0.4),
        found('OpenAI', 'CONCEPT'),
        found('Azure'),
        found('GPT'),
      ],
      ['OpenAI uses Azure.', 'OpenAI and Azure again, GPT too.', 'GPT alone', 'openAI, gpt'],
    );
    const openai = entityId('owner', 'NAME', 'OpenAI');
    expect(entityId('owner', 'NAME', '  OPENAI ')).toBe(openai);
    expect(entityId('other', 'NAME', 'OpenAI')).not.toBe(openai);
    expect(graph.entities[0]).toMatchObject({ id: openai, name: 'OpenAI', type: 'NAME', confidence: 0.9 });
    expect(graph.entities.map((e) => `${e.name}/${e.type}`).sort()).toEqual([
      'Azure/NAME',
      'GPT/NAME',
      'OpenAI/CONCEPT',
      'OpenAI/NAME',
    ]);
    const frequency = (a: string, b: string) => {
      const [source, target] = [entityId('owner', 'NAME', a), entityId('owner', 'NAME', b)].sort();
      return graph.cooccurrences.find((p) => p.source === source && p.target === target)?.frequency;
    };
    expect(frequency('OpenAI', 'Azure')).toBe(2);
    expect(frequency('OpenAI', 'GPT')).toBe(2);
    expect(frequency('Azure', 'GPT')).toBe(1);
    for (const pair of graph.cooccurrences) expect(pair.source < pair.target).toBe(true);
  });

  it('matches whole words only', () => {
    expect(mentionIn('the ai is here', 'ai')).toBe(4);
    expect(mentionIn('training data', 'ai')).toBe(-1);
    expect(mentionIn('人工智能的发展', '智能')).toBe(2);
  });
});
