import { Layout, type Page } from './layout';

export function ErrorPage(props: { page: Page; message: string }) {
  const { t } = props.page;
  return (
    <Layout page={props.page} title={t('error.title')}>
      <h1>{t('error.title')}</h1>
      <p role="alert">{props.message}</p>
      <p><a href="/">{t('error.back')}</a></p>
    </Layout>
  );
}
